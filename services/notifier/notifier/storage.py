"""Where the notifier steps around the ORM for speed: each statement here replaces several
round trips the ORM would make per event or per delivery (services/notifier/README.md,
"Speed work").

- ``inbox_insert``: one ``INSERT ... ON CONFLICT DO NOTHING RETURNING`` records a batch of event
  ids, each once, and says which were new (``get_or_create`` takes a SELECT, a savepoint, an
  INSERT and a release per event).
- ``outcomes_record``: one ``UPDATE ... FROM (VALUES ...)`` stores the outcomes of a batch of
  attempts, each only where the row is still that attempt's claim (status ``sending`` and its
  attempt number), and returns the ids it stored.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db import connection

from notifier.models import Delivery, InboxEvent


@dataclass(frozen=True)
class InboxRow:
    event_id: str
    event_type: str
    event_version: int
    occurred_at: datetime
    correlation_id: str


def inbox_insert(rows: list[InboxRow], *, received_at: datetime) -> set[str]:
    """Insert events into the inbox in one statement; return the ids that were not there yet."""
    if not rows:
        return set()
    params: list = []
    for row in rows:
        params += [
            row.event_id,
            row.event_type,
            row.event_version,
            row.occurred_at,
            row.correlation_id,
            received_at,
        ]
    values = ", ".join(["(%s::uuid, %s, %s, %s::timestamptz, %s, %s::timestamptz)"] * len(rows))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {InboxEvent._meta.db_table} "  # noqa: S608 - table name from the model
            "(event_id, event_type, event_version, occurred_at, correlation_id, received_at) "
            f"VALUES {values} ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
            params,
        )
        return {str(event_id) for (event_id,) in cursor.fetchall()}


@dataclass(frozen=True)
class Outcome:
    delivery_id: int
    attempt: int
    status: str
    next_attempt_at: datetime | None
    provider_message_id: str
    last_error: str
    sent_at: datetime | None


def outcomes_record(outcomes: list[Outcome]) -> set[int]:
    """Store each outcome where its attempt still holds the claim; return the ids stored."""
    if not outcomes:
        return set()
    row = (
        "(%s::bigint, %s::integer, %s::varchar, %s::timestamptz, %s::varchar, %s::text, "
        "%s::timestamptz)"
    )
    params: list = []
    for outcome in outcomes:
        params += [
            outcome.delivery_id,
            outcome.attempt,
            outcome.status,
            outcome.next_attempt_at,
            outcome.provider_message_id,
            outcome.last_error,
            outcome.sent_at,
        ]
    table = Delivery._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS d SET status = v.status, next_attempt_at = v.next_attempt_at, "  # noqa: S608
            "provider_message_id = v.provider_message_id, last_error = v.last_error, "
            "sent_at = v.sent_at, updated_at = clock_timestamp() "
            f"FROM (VALUES {', '.join([row] * len(outcomes))}) "
            "AS v(id, attempt, status, next_attempt_at, provider_message_id, last_error, sent_at) "
            "WHERE d.id = v.id AND d.status = 'sending' AND d.attempts = v.attempt "
            "RETURNING d.id",
            params,
        )
        return {stored for (stored,) in cursor.fetchall()}
