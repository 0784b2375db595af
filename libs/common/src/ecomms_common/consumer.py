"""A RabbitMQ consumer loop: manual acks, bounded prefetch, reconnect with backoff, clean stop.

The handler gets each message's body and properties and returns normally to have it acked, or
raises :class:`~ecomms_common.events.MalformedEvent` / :class:`RejectMessage` to dead-letter it
(``basic_reject(requeue=False)``; the queue's dead-letter exchange takes it). Any other exception is
taken as a passing failure (e.g. the database is down): the consumer keeps the message and tries
again with growing pauses for up to ``retry_in_place_seconds``; only then does it requeue it
(``basic_nack(requeue=True)``), which RabbitMQ counts against the queue's delivery limit. So a
short outage costs no delivery attempt, and a message that keeps failing (a bug) ends up in the
dead-letter queue after ``x-delivery-limit`` rounds instead of blocking the queue for ever.

The handler may return a callable: it runs right after the ack (e.g. hand work to a pool).

``stop`` (set from a SIGTERM handler) is checked between messages: the message being handled is
finished and acked first; prefetched messages not yet handled return to the queue on close.
"""

import contextlib
import logging
import threading
import time
from collections.abc import Callable

import pika
from pika.adapters.blocking_connection import BlockingChannel
from pika.exceptions import AMQPError
from pika.spec import Basic, BasicProperties

from ecomms_common.amqp import Backoff, Topology, connection_parameters, declare_topology
from ecomms_common.events import MalformedEvent

logger = logging.getLogger(__name__)

Handler = Callable[[bytes, BasicProperties], Callable[[], None] | None]


class RejectMessage(Exception):
    """The message can never be handled: send it to the dead-letter queue."""


class EventConsumer:
    def __init__(
        self,
        *,
        queue: str,
        handler: Handler,
        stop: threading.Event,
        prefetch: int = 10,
        amqp_url: str | None = None,
        topology: Topology | None = None,
        retry_max_seconds: float = 10.0,
        retry_in_place_seconds: float = 30.0,
    ) -> None:
        self.queue = queue
        self.handler = handler
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
                tag = channel.basic_consume(self.queue, self._on_message)
                self.connected.set()
                backoff.reset()
                logger.info("consuming from %s", self.queue)
                while not self.stop.is_set():
                    connection.process_data_events(time_limit=0.2)
                channel.basic_cancel(tag)
                connection.close()
                logger.info("consumer stopped cleanly")
            except AMQPError as exc:
                self.connected.clear()
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
