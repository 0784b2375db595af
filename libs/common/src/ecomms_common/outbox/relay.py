"""The outbox relay: publish committed outbox rows to RabbitMQ, in order, at least once.

One pass (:meth:`OutboxRelay.publish_batch`) runs in a database transaction:

1. ``SELECT ... FOR UPDATE SKIP LOCKED`` the oldest unpublished rows that are due, so that several
   relays share the work without publishing the same row twice in the normal case;
2. publish each with publisher confirms and ``mandatory`` (a confirm means RabbitMQ has the message
   on every queue it was routed to; an unroutable one is returned and raises);
3. mark the confirmed rows published and commit.

A relay killed after a confirm and before the commit publishes those rows again when it (or another
relay) next runs: consumers deduplicate by ``message_id`` (the event id). While RabbitMQ is down or
blocks publishers, the relay backs off and reconnects; rows wait in the table.

Order: rows go out by id (commit order, for rows committed one after the other) within a relay. A
row RabbitMQ refuses (nacked, or unroutable: no queue bound for its routing key) is postponed with
a growing delay while the rows after it go on. With several relays, their batches interleave.
A row that was unroutable ``OUTBOX_UNROUTABLE_MAX_ATTEMPTS`` times is parked (``parked_at``,
``parked_reason``, counted by ``ecomms_outbox_parked_total``, logged once) and left alone until
``manage.py outbox_parked --requeue`` puts it back.

The relay declares the exchanges (``ecomms_common.amqp``) and no queue: each consumer declares and
binds its own. An event published before any consumer of it has declared its queue (e.g. orders
taking orders before the notifier ever started) is unroutable, retried, then parked as above.

Traces: a row keeps the trace context of the change that wrote it; with tracing on, each publish
is a PRODUCER span, that change's child, and the message's ``traceparent`` header names it, so
that the consumer's span is the child of the publish (``ecomms_common.tracing``).

``outbox_enqueue`` sends ``NOTIFY`` on commit and the relay ``LISTEN``s, so a new row is picked up
at once; ``OUTBOX_POLL_SECONDS`` bounds the wait when a notification is missed.
"""

import contextlib
import json
import logging
import threading
import time
from datetime import datetime, timedelta

import pika
import psycopg
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction
from django.db.models import F, Q
from django.utils import timezone
from opentelemetry import trace
from pika.exceptions import AMQPError, NackError, UnroutableError
from prometheus_client import Counter
from psycopg import sql

from ecomms_common.amqp import Backoff, connection_parameters, declare_topology, event_topology
from ecomms_common.outbox.models import OutboxMessage
from ecomms_common.tracing import producer_span, span_headers, tracing_enabled

logger = logging.getLogger(__name__)

PUBLISHED = Counter("ecomms_outbox_published", "Outbox rows published and confirmed by RabbitMQ.")
PARKED = Counter(
    "ecomms_outbox_parked",
    "Outbox rows parked after OUTBOX_UNROUTABLE_MAX_ATTEMPTS unroutable publishes.",
)
PUBLISH_FAILURES = Counter(
    "ecomms_outbox_publish_failures",
    "Outbox publishes that failed (broker down, nacked or unroutable).",
    ["reason"],
)


def message_properties(row: OutboxMessage) -> pika.BasicProperties:
    """Return the AMQP properties every event carries (ARCHITECTURE.md "Events")."""
    headers = {"correlation_id": row.correlation_id, "event_version": row.event_version}
    if row.traceparent:  # the trace of the change, passed on even by a relay not tracing
        headers["traceparent"] = row.traceparent
        if row.tracestate:
            headers["tracestate"] = row.tracestate
    return pika.BasicProperties(
        content_type="application/json",
        delivery_mode=2,
        message_id=str(row.event_id),
        correlation_id=row.correlation_id,
        type=row.event_type,
        timestamp=int(row.created_at.timestamp()),
        headers=headers,
    )


@contextlib.contextmanager
def publish_span(row: OutboxMessage, exchange: str, properties: pika.BasicProperties):
    """With tracing on, run a row's publish in a PRODUCER span, the child of the change that
    wrote the row, and put that span's context in the message's headers instead."""
    if not tracing_enabled():
        yield
        return
    span = producer_span(
        f"publish {row.routing_key}",
        parent={"traceparent": row.traceparent, "tracestate": row.tracestate},
        attributes={
            "messaging.system": "rabbitmq",
            "messaging.operation.type": "send",
            "messaging.destination.name": exchange,
            "messaging.rabbitmq.destination.routing_key": row.routing_key,
            "messaging.message.id": str(row.event_id),
            "messaging.message.conversation_id": row.correlation_id,
        },
    )
    properties.headers.update(span_headers(span))
    with trace.use_span(span, end_on_exit=True):
        yield


class OutboxListener:
    """A dedicated PostgreSQL connection that ``LISTEN``s for new outbox rows."""

    def __init__(self, *, using: str = DEFAULT_DB_ALIAS, channel: str | None = None) -> None:
        self.using = using
        self.channel = channel or settings.OUTBOX_NOTIFY_CHANNEL
        self.connection: psycopg.Connection | None = None

    def wait(self, timeout: float, stop: threading.Event) -> None:
        """Return when a row was committed, after ``timeout`` seconds, or soon after ``stop``."""
        try:
            self.ensure_listening()
            deadline = time.monotonic() + timeout
            # In short slices, so that a stop request is noticed within half a second.
            while not self.stop_or_notified(deadline, stop):
                pass
        except (psycopg.Error, DatabaseError) as exc:
            logger.warning("outbox listener lost its database connection: %r", exc)
            self.close()
            stop.wait(timeout)

    def stop_or_notified(self, deadline: float, stop: threading.Event) -> bool:
        remaining = deadline - time.monotonic()
        if stop.is_set() or remaining <= 0:
            return True
        assert self.connection is not None
        notified = any(
            True for _ in self.connection.notifies(timeout=min(remaining, 0.5), stop_after=1)
        )
        if notified:
            # Several commits may have notified: one batch takes care of them all.
            for _ in self.connection.notifies(timeout=0):
                pass
        return notified

    def ensure_listening(self) -> None:
        """LISTEN before looking at the table, so that no commit falls between the two."""
        if self.connection is not None:
            return
        params = connections[self.using].get_connection_params()
        params.pop("cursor_factory", None)
        params.pop("context", None)
        self.connection = psycopg.connect(**params, autocommit=True)
        self.connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


class OutboxRelay:
    """Publish outbox rows until ``stop`` is set; safe to run several at once."""

    def __init__(
        self,
        *,
        stop: threading.Event | None = None,
        amqp_url: str | None = None,
        batch_size: int | None = None,
        poll_seconds: float | None = None,
        using: str = DEFAULT_DB_ALIAS,
    ) -> None:
        self.stop = stop or threading.Event()
        self.amqp_url = amqp_url or settings.AMQP_URL
        self.batch_size = batch_size or settings.OUTBOX_BATCH_SIZE
        self.poll_seconds = settings.OUTBOX_POLL_SECONDS if poll_seconds is None else poll_seconds
        self.using = using
        self.exchange = settings.EVENTS_EXCHANGE
        self.listener = OutboxListener(using=using)
        self.connection: pika.BlockingConnection | None = None
        self.channel = None

    def connect(self) -> None:
        """Open a confirming channel and declare the exchanges (no queue: consumers own theirs)."""
        self.connection = pika.BlockingConnection(connection_parameters(self.amqp_url))
        self.channel = self.connection.channel()
        self.channel.confirm_delivery()
        self.exchange = declare_topology(self.channel, event_topology()).exchange

    def disconnect(self) -> None:
        connection, self.connection, self.channel = self.connection, None, None
        if connection is not None and connection.is_open:
            with contextlib.suppress(AMQPError):
                connection.close()

    def run(self) -> None:
        """Publish, wait for new rows, repeat; back off while RabbitMQ or the database is down."""
        backoff = Backoff(maximum=settings.OUTBOX_RETRY_MAX_SECONDS)
        logger.info("outbox relay started")
        try:
            while not self.stop.is_set():
                try:
                    if self.connection is None:
                        self.connect()
                        logger.info("outbox relay connected to RabbitMQ")
                    self.listener.ensure_listening()
                    published = self.publish_batch()
                    backoff.reset()
                    if published < self.batch_size:
                        self.listener.wait(self.poll_seconds, self.stop)
                        # Heartbeats are answered only inside pika calls.
                        self.connection.process_data_events(time_limit=0)
                except (AMQPError, DatabaseError, psycopg.Error, OSError) as exc:
                    delay = backoff.next_delay()
                    logger.warning("outbox relay failed (%r); retrying in %.1fs", exc, delay)
                    self.disconnect()
                    self.listener.close()
                    connections[self.using].close()
                    self.stop.wait(delay)
        finally:
            self.disconnect()
            self.listener.close()
            connections[self.using].close()
            logger.info("outbox relay stopped")

    def publish_batch(self) -> int:
        """Publish one batch of due rows; return how many were confirmed.

        A broker failure in the middle still marks the rows confirmed before it, records the
        error on the row that failed, commits, and then raises.
        """
        if self.channel is None:
            self.connect()
        failure: AMQPError | None = None
        confirmed: list[int] = []
        now = timezone.now()
        with transaction.atomic(using=self.using):
            rows = list(
                OutboxMessage.objects.using(self.using)
                .select_for_update(skip_locked=True)
                .filter(published_at__isnull=True, parked_at__isnull=True)
                .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
                .order_by("id")[: self.batch_size]
            )
            for row in rows:
                properties = message_properties(row)
                try:
                    with publish_span(row, self.exchange, properties):
                        self.channel.basic_publish(
                            exchange=self.exchange,
                            routing_key=row.routing_key,
                            body=json.dumps(row.envelope, separators=(",", ":")).encode(),
                            properties=properties,
                            mandatory=True,
                        )
                except (NackError, UnroutableError) as exc:
                    # Refused for this row only: try it again later, go on with the others.
                    reason = "nacked" if isinstance(exc, NackError) else "unroutable"
                    PUBLISH_FAILURES.labels(reason=reason).inc()
                    self._record_failure(row, f"{reason}: {exc!r}", now)
                    continue
                except AMQPError as exc:
                    PUBLISH_FAILURES.labels(reason="broker").inc()
                    self._record_failure(row, f"broker: {exc!r}", now, postpone=False)
                    failure = exc
                    break
                confirmed.append(row.id)
            if confirmed:
                OutboxMessage.objects.using(self.using).filter(id__in=confirmed).update(
                    published_at=timezone.now(), attempts=F("attempts") + 1, last_error=""
                )
        PUBLISHED.inc(len(confirmed))
        if confirmed:
            logger.info("published %d outbox rows", len(confirmed))
        if failure is not None:
            raise failure
        return len(confirmed)

    def _record_failure(
        self, row: OutboxMessage, error: str, now: datetime, *, postpone: bool = True
    ) -> None:
        """Count the attempt; postpone the row when the broker refused this row in particular,
        and park it once it has been unroutable ``OUTBOX_UNROUTABLE_MAX_ATTEMPTS`` times."""
        attempts = row.attempts + 1
        changes = {"attempts": attempts, "last_error": error[:2000]}
        unroutable = error.startswith("unroutable")
        if unroutable and attempts >= settings.OUTBOX_UNROUTABLE_MAX_ATTEMPTS:
            reason = f"no queue bound for {row.routing_key} after {attempts} attempts"
            changes.update(parked_at=now, parked_reason=reason, next_attempt_at=None)
            OutboxMessage.objects.using(self.using).filter(id=row.id).update(**changes)
            PARKED.inc()
            logger.warning(
                "outbox row %s parked: %s (manage.py outbox_parked --requeue %s)",
                row.event_id,
                reason,
                row.id,
            )
            return
        if postpone:
            delay = min(settings.OUTBOX_RETRY_MAX_SECONDS, 0.5 * 2 ** min(attempts, 16))
            changes["next_attempt_at"] = now + timedelta(seconds=delay)
        OutboxMessage.objects.using(self.using).filter(id=row.id).update(**changes)
        # Unroutable rows are retried a bounded number of times and then reported once, parked.
        log = logger.info if unroutable else logger.warning
        log("outbox row %s not published: %s", row.event_id, error)
