"""A RabbitMQ consumer loop: manual acks, bounded prefetch, reconnect with backoff, clean stop.

The consumer owns its queue: it is given its ``topology`` (the exchanges and its own queues with
their bindings) and declares it every time it connects, before it consumes.

The handler gets each message's body and properties and returns normally to have it acked, or
raises :class:`~ecomms_common.events.MalformedEvent` / :class:`RejectMessage` to dead-letter it
(``basic_reject(requeue=False)``; the queue's dead-letter exchange takes it). Any other exception is
taken as a passing failure (e.g. the database is down): the consumer keeps the message and tries
again with growing pauses for up to ``retry_in_place_seconds``; only then does it requeue it
(``basic_nack(requeue=True)``), which RabbitMQ counts against the queue's delivery limit. So a
short outage costs no delivery attempt, and a message that keeps failing (a bug) ends up in the
dead-letter queue after ``x-delivery-limit`` rounds instead of blocking the queue for ever.

The handler may return a callable: it runs right after the ack (e.g. hand work to a pool).

With ``batch_handler`` instead, the messages that arrived together (at most ``prefetch``) are
handed over as one list of :class:`Message`, so that a consumer can take them in with one
transaction. It returns a :class:`BatchOutcome`: the messages to dead-letter (by index, with a
reason) and what to run after the acks; the others are acked once it has returned. A failure
retries the whole batch in place, then requeues every message of it.

``stop`` (set from a SIGTERM handler) is checked between messages: the message being handled is
finished and acked first; prefetched messages not yet handled return to the queue on close.
"""

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pika
from pika.adapters.blocking_connection import BlockingChannel
from pika.exceptions import AMQPError
from pika.spec import Basic, BasicProperties

from ecomms_common.amqp import Backoff, Topology, connection_parameters, declare_topology
from ecomms_common.events import MalformedEvent

logger = logging.getLogger(__name__)

Handler = Callable[[bytes, BasicProperties], Callable[[], None] | None]


@dataclass(frozen=True)
class Message:
    body: bytes
    properties: BasicProperties
    delivery_tag: int


@dataclass
class BatchOutcome:
    rejected: dict[int, str] = field(default_factory=dict)  # index in the batch -> reason
    after_ack: Callable[[], None] | None = None


BatchHandler = Callable[[list[Message]], BatchOutcome]


class RejectMessage(Exception):
    """The message can never be handled: send it to the dead-letter queue."""


class EventConsumer:
    def __init__(
        self,
        *,
        queue: str,
        topology: Topology,
        stop: threading.Event,
        handler: Handler | None = None,
        batch_handler: BatchHandler | None = None,
        prefetch: int = 10,
        amqp_url: str | None = None,
        retry_max_seconds: float = 10.0,
        retry_in_place_seconds: float = 30.0,
    ) -> None:
        self.queue = queue
        if (handler is None) == (batch_handler is None):
            raise ValueError("give either handler or batch_handler")
        if queue not in {declared.name for declared in topology.queues}:
            raise ValueError(f"the topology does not declare the queue {queue}")
        self.handler = handler
        self.batch_handler = batch_handler
        self._pending: list[Message] = []
        self.stop = stop
        self.prefetch = prefetch
        self.amqp_url = amqp_url
        self.topology = topology
        self.retry_max_seconds = retry_max_seconds
        # No pika call runs during these pauses (heartbeats wait): keep the budget well under the
        # broker's heartbeat timeout (two heartbeat intervals).
        self.retry_in_place_seconds = retry_in_place_seconds
        self.connected = threading.Event()

    def run(self) -> None:
        """Consume until ``stop`` is set, reconnecting with backoff whenever RabbitMQ goes away."""
        backoff = Backoff(maximum=self.retry_max_seconds)
        while not self.stop.is_set():
            connection = None
            try:
                connection = pika.BlockingConnection(connection_parameters(self.amqp_url))
                channel = connection.channel()
                declare_topology(channel, self.topology)
                channel.basic_qos(prefetch_count=self.prefetch)
                on_message = self._on_message if self.handler else self._buffer
                tag = channel.basic_consume(self.queue, on_message)
                self.connected.set()
                backoff.reset()
                logger.info("consuming from %s", self.queue)
                while not self.stop.is_set():
                    # Returns as soon as messages arrived (after calling on_message for each).
                    connection.process_data_events(time_limit=0.2)
                    if self._pending:
                        self._handle_batch(channel)
                channel.basic_cancel(tag)
                connection.close()
                logger.info("consumer stopped cleanly")
            except AMQPError as exc:
                self.connected.clear()
                self._pending = []  # unacked: RabbitMQ delivers them again
                delay = backoff.next_delay()
                logger.warning("consumer lost RabbitMQ (%r); reconnecting in %.1fs", exc, delay)
                if connection is not None and connection.is_open:
                    with contextlib.suppress(AMQPError):
                        connection.close()
                self.stop.wait(delay)
        self.connected.clear()

    def _on_message(
        self,
        channel: BlockingChannel,
        method: Basic.Deliver,
        properties: BasicProperties,
        body: bytes,
    ) -> None:
        backoff = Backoff(initial=0.2, maximum=min(5.0, self.retry_max_seconds))
        deadline = time.monotonic() + self.retry_in_place_seconds
        while True:
            try:
                after_ack = self.handler(body, properties)
                break
            except (MalformedEvent, RejectMessage) as exc:
                logger.error(
                    "dead-lettering message %s from %s: %s", properties.message_id, self.queue, exc
                )
                channel.basic_reject(method.delivery_tag, requeue=False)
                return
            except Exception:  # a passing failure (database down...): try again, then requeue
                delay = backoff.next_delay()
                if self.stop.is_set() or time.monotonic() + delay > deadline:
                    logger.exception("handling message %s failed; requeued", properties.message_id)
                    channel.basic_nack(method.delivery_tag, requeue=True)
                    return
                logger.exception(
                    "handling message %s failed; again in %.1fs", properties.message_id, delay
                )
                self.stop.wait(delay)
        channel.basic_ack(method.delivery_tag)
        if after_ack is not None:
            after_ack()

    def _buffer(
        self,
        channel: BlockingChannel,
        method: Basic.Deliver,
        properties: BasicProperties,
        body: bytes,
    ) -> None:
        self._pending.append(Message(body, properties, method.delivery_tag))

    def _handle_batch(self, channel: BlockingChannel) -> None:
        messages, self._pending = self._pending, []
        backoff = Backoff(initial=0.2, maximum=min(5.0, self.retry_max_seconds))
        deadline = time.monotonic() + self.retry_in_place_seconds
        while True:
            try:
                outcome = self.batch_handler(messages)
                break
            except Exception:  # a passing failure (database down...): try again, then requeue
                delay = backoff.next_delay()
                if self.stop.is_set() or time.monotonic() + delay > deadline:
                    logger.exception("handling %d messages failed; requeued", len(messages))
                    for message in messages:
                        channel.basic_nack(message.delivery_tag, requeue=True)
                    return
                logger.exception(
                    "handling %d messages failed; again in %.1fs", len(messages), delay
                )
                self.stop.wait(delay)
        for index, reason in outcome.rejected.items():
            message = messages[index]
            logger.error(
                "dead-lettering message %s from %s: %s",
                message.properties.message_id,
                self.queue,
                reason,
            )
            channel.basic_reject(message.delivery_tag, requeue=False)
        if not outcome.rejected:
            channel.basic_ack(messages[-1].delivery_tag, multiple=True)
        else:
            for index, message in enumerate(messages):
                if index not in outcome.rejected:
                    channel.basic_ack(message.delivery_tag)
        if outcome.after_ack is not None:
            outcome.after_ack()
