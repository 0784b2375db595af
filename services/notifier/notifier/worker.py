"""The notifier's consumer process: take events in, then send their deliveries in a pool.

- The consumer thread (pika) takes the messages that arrived together (up to the prefetch),
  records their events and deliveries in one transaction (the inbox), acks them after the
  commit, and hands the new deliveries to the pool.
- The pool's threads attempt deliveries: each attempt claims its row (committed, status
  ``sending`` with a lease), calls the provider with no transaction open, then records the
  outcome, waiting out a database outage (see ``notifier.services.deliveries_attempt``).
- A scheduler thread hands the pool every delivery that is due: retries of transient failures
  (``next_attempt_at``), work left pending by a process that died, and claims whose lease ran out.

A slow or failing provider therefore never holds up the queue: the message is acked as soon as
its deliveries are on disk, and retries wait in the table, not in RabbitMQ.
"""

import logging
import queue
import threading
import time
import uuid

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection
from opentelemetry.trace import Status, StatusCode

from ecomms_common.consumer import BatchOutcome, EventConsumer, Message
from ecomms_common.events import Envelope, MalformedEvent
from ecomms_common.tracing import consumer_span, span_headers, tracing_enabled
from notifier.channels.email import email_connection_close
from notifier.channels.sms import sms_connection_close
from notifier.events import event_read
from notifier.metrics import EVENTS_CONSUMED
from notifier.selectors import due_delivery_ids
from notifier.services import deliveries_attempt, events_receive
from notifier.topology import notifier_topology

logger = logging.getLogger(__name__)


def _consumer_spans(messages: list[Message]) -> list:
    """Start a CONSUMER span per message, the child of the publish its headers name; they end
    once the batch is in the inbox, and each event keeps its span's context for its sends."""
    return [
        consumer_span(
            f"process {settings.NOTIFIER_QUEUE}",
            headers=message.properties.headers,
            attributes={
                "messaging.system": "rabbitmq",
                "messaging.operation.type": "process",
                "messaging.destination.name": settings.NOTIFIER_QUEUE,
                "messaging.message.id": message.properties.message_id or "",
                "messaging.message.conversation_id": message.properties.correlation_id or "",
            },
        )
        for message in messages
    ]


# A delivery thread's database connection idle longer than this is checked before use.
IDLE_CHECK_SECONDS = 5.0


class NotifierWorker:
    def __init__(
        self,
        *,
        stop: threading.Event | None = None,
        amqp_url: str | None = None,
        workers: int | None = None,
        prefetch: int | None = None,
    ) -> None:
        self.stop = stop or threading.Event()
        self.workers = workers or settings.NOTIFIER_DELIVERY_WORKERS
        self.batch_size = settings.NOTIFIER_DELIVERY_BATCH
        self._work: queue.Queue[int | None] = queue.Queue()
        self._queued: set[int] = set()
        self._lock = threading.Lock()
        self._thread = threading.local()  # per thread: when its connection was last used
        self.consumer = EventConsumer(
            queue=settings.NOTIFIER_QUEUE,
            batch_handler=self.handle_batch,
            stop=self.stop,
            prefetch=prefetch or settings.NOTIFIER_PREFETCH,
            amqp_url=amqp_url,
            topology=notifier_topology(),  # the notifier declares and binds its own queue
        )

    def run(self) -> None:
        """Consume until ``stop`` is set; then finish the deliveries in progress."""
        threads = [
            threading.Thread(target=self._deliver, name=f"delivery-{n}")
            for n in range(self.workers)
        ]
        threads.append(threading.Thread(target=self._schedule, name="delivery-scheduler"))
        for thread in threads:
            thread.start()
        try:
            self.consumer.run()
        finally:
            self.stop.set()
            # Attempts in progress finish; queued ones stay pending in the table for next time.
            for _ in range(self.workers):
                self._work.put(None)
            for thread in threads:
                thread.join()
            connection.close()
            logger.info("notifier worker stopped")

    def handle_batch(self, messages: list[Message]) -> BatchOutcome:
        """Take the messages that arrived together in with one transaction; return what to
        dead-letter and what to do after the acks."""
        self._check_connection_if_idle()
        outcome = BatchOutcome()
        envelopes: list[Envelope] = []
        spans = _consumer_spans(messages) if tracing_enabled() else None
        traceparents: list[str] | None = [] if spans else None
        for index, message in enumerate(messages):
            try:
                envelope = Envelope.from_json(message.body)
                uuid.UUID(str(envelope.event_id))
                event_read(envelope)
            except (MalformedEvent, ValueError) as exc:
                event_type = message.properties.type or ""
                EVENTS_CONSUMED.labels(event_type=event_type, outcome="dead_lettered").inc()
                outcome.rejected[index] = str(exc)
                if spans:
                    spans[index].set_status(Status(StatusCode.ERROR, str(exc)))
                continue
            envelopes.append(envelope)
            if spans:
                traceparents.append(span_headers(spans[index]).get("traceparent", ""))
        try:
            received = (
                events_receive(envelopes=envelopes, traceparents=traceparents) if envelopes else []
            )
        except DatabaseError:
            connection.close()
            raise
        finally:
            for span in spans or ():
                span.end()
        delivery_ids: list[int] = []
        for envelope, ids in zip(envelopes, received, strict=True):
            if ids is None:
                EVENTS_CONSUMED.labels(event_type=envelope.event_type, outcome="duplicate").inc()
                logger.info("event %s already processed; acked again", envelope.event_id)
                continue
            EVENTS_CONSUMED.labels(event_type=envelope.event_type, outcome="processed").inc()
            delivery_ids += ids
        if delivery_ids:
            outcome.after_ack = lambda: self.submit(delivery_ids)
        return outcome

    def submit(self, delivery_ids: list[int]) -> None:
        for delivery_id in delivery_ids:
            with self._lock:
                if delivery_id in self._queued:
                    continue
                self._queued.add(delivery_id)
            self._work.put(delivery_id)

    def _deliver(self) -> None:
        """Attempt deliveries from the work queue until told to stop (``None``).

        Under a backlog it takes up to ``NOTIFIER_DELIVERY_BATCH`` waiting ids and claims them
        together (``deliveries_attempt``); otherwise one. Nothing waits for a batch to fill.
        """
        try:
            while True:
                batch = [self._work.get()]
                # Batches only while more is waiting than there are threads: below that every
                # delivery gets a thread of its own, so one slow provider call (an SMS held up
                # to its read timeout) never holds up another message.
                while (
                    batch[-1] is not None
                    and len(batch) < self.batch_size
                    and self._work.qsize() > self.workers
                ):
                    try:
                        batch.append(self._work.get_nowait())
                    except queue.Empty:
                        break
                ids = [delivery_id for delivery_id in batch if delivery_id is not None]
                if ids and not self.stop.is_set():  # once stopping, the rest stay in the table
                    self._attempt(ids)
                elif ids:
                    self._forget(ids)
                if batch[-1] is None:
                    return
        finally:
            email_connection_close()
            sms_connection_close()
            connection.close()

    def _attempt(self, delivery_ids: list[int]) -> None:
        self._check_connection_if_idle()
        try:
            deliveries_attempt(delivery_ids=delivery_ids)
        except Exception:  # nothing claimed, or the claims' leases run out: offered again later
            logger.exception("deliveries %s could not be attempted", delivery_ids)
            connection.close()
        finally:
            self._forget(delivery_ids)

    def _check_connection_if_idle(self) -> None:
        """Run Django's connection checks (a SELECT 1 before the next query) only when this
        thread's connection sat idle: one in steady use is known to work, and a failure closes
        it anyway. Saves a round trip per batch and per claim under load."""
        now = time.monotonic()
        if now - getattr(self._thread, "used_at", 0.0) > IDLE_CHECK_SECONDS:
            close_old_connections()
        self._thread.used_at = now

    def _forget(self, delivery_ids: list[int]) -> None:
        with self._lock:
            self._queued.difference_update(delivery_ids)

    def _schedule(self) -> None:
        try:
            while not self.stop.is_set():
                try:
                    self.submit(due_delivery_ids())
                except DatabaseError as exc:
                    logger.warning("cannot look for due deliveries: %r", exc)
                    connection.close()
                self.stop.wait(settings.NOTIFIER_RETRY_POLL_SECONDS)
        finally:
            connection.close()
