import json

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections

from ecomms_common.events import Envelope
from ecomms_common.outbox.models import OutboxMessage
from ecomms_common.tracing import trace_headers


class OutboxOutsideTransaction(RuntimeError):
    """An event was written outside the transaction of the change it describes."""


def outbox_enqueue(*, envelope: Envelope, using: str = DEFAULT_DB_ALIAS) -> OutboxMessage:
    """Store an event for publishing; must run inside the business change's transaction."""
    if not connections[using].in_atomic_block:
        raise OutboxOutsideTransaction(
            "outbox_enqueue must run inside transaction.atomic() with the change it announces"
        )
    trace = trace_headers()  # the request's span, stored with the row it announces
    message = OutboxMessage.objects.using(using).create(
        event_id=envelope.event_id,
        event_type=envelope.event_type,
        event_version=envelope.event_version,
        routing_key=envelope.routing_key,
        envelope=json.loads(envelope.to_json()),
        correlation_id=envelope.correlation_id,
        traceparent=trace.get("traceparent", ""),
        tracestate=trace.get("tracestate", "")[:512],
    )
    # Delivered when the transaction commits (never on rollback): wakes the relay at once.
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT pg_notify(%s, '')", [settings.OUTBOX_NOTIFY_CHANNEL])
    return message
