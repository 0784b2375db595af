"""RabbitMQ names unique to one test, declared by the code under test and deleted afterwards.

The exchanges are everyone's; a queue belongs to its consumer, so a test (or a service's test
settings) names and deletes the queues it uses itself (:func:`delete_queues`).
"""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pika
from django.conf import settings

from ecomms_common.amqp import ConsumerQueue, event_topology

TOPOLOGY_SETTINGS = ("EVENTS_EXCHANGE", "DEAD_LETTER_EXCHANGE", "OUTBOX_NOTIFY_CHANNEL")


def unique_topology_names() -> dict[str, str]:
    """Return topology settings with names no other test run uses."""
    run = uuid.uuid4().hex[:10]
    return {
        "EVENTS_EXCHANGE": f"test.{run}.events",
        "DEAD_LETTER_EXCHANGE": f"test.{run}.dlx",
        "OUTBOX_NOTIFY_CHANNEL": f"test_{run}_outbox",
    }


def unique_queue(
    prefix: str, *, binding_keys: list[str], delivery_limit: int = 10
) -> ConsumerQueue:
    """Return a consumer's queue (and its dead-letter queue) with names no other test uses."""
    name = f"test.{uuid.uuid4().hex[:10]}.{prefix}"
    return ConsumerQueue(
        name=name,
        dead_letter_queue=f"{name}.dlq",
        binding_keys=binding_keys,
        delivery_limit=delivery_limit,
    )


def delete_queues(*names: str) -> None:
    """Delete the queues ``names`` (those that do not exist are skipped)."""
    with broker_channel() as channel:
        for name in names:
            channel.queue_delete(name)


def delete_topology() -> None:
    """Delete the exchanges named by the current settings."""
    topology = event_topology()
    with broker_channel() as channel:
        channel.exchange_delete(topology.exchange)
        channel.exchange_delete(topology.dead_letter_exchange)


@contextmanager
def broker_channel() -> Iterator[pika.adapters.blocking_connection.BlockingChannel]:
    """Yield a channel on the test broker (``AMQP_URL``), closed afterwards.

    The channel confirms what is published on it: ``basic_publish`` returns once the broker has
    taken the message into every queue it routes to, so a test may count them at once, and a
    quorum queue may drop what was still unconfirmed when the publishing connection closed (a
    run lost two of three messages that way)."""
    connection = pika.BlockingConnection(pika.URLParameters(settings.AMQP_URL))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        yield channel
    finally:
        connection.close()


def drain(queue: str) -> list[tuple[pika.spec.Basic.GetOk, pika.BasicProperties, bytes]]:
    """Take (and ack) every message now in ``queue``."""
    messages = []
    with broker_channel() as channel:
        while True:
            method, properties, body = channel.basic_get(queue, auto_ack=True)
            if method is None:
                return messages
            messages.append((method, properties, body))


def queue_depth(queue: str) -> int:
    """Return how many messages wait in ``queue`` (0 while it does not exist yet)."""
    with broker_channel() as channel:
        try:
            return channel.queue_declare(queue, passive=True).method.message_count
        except pika.exceptions.ChannelClosedByBroker as exc:
            if exc.reply_code == 404:
                return 0
            raise
