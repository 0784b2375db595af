"""RabbitMQ names unique to one test, declared by the code under test and deleted afterwards."""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pika
from django.conf import settings

from ecomms_common.amqp import event_topology

TOPOLOGY_SETTINGS = (
    "EVENTS_EXCHANGE",
    "DEAD_LETTER_EXCHANGE",
    "NOTIFIER_QUEUE",
    "NOTIFIER_DEAD_LETTER_QUEUE",
    "OUTBOX_NOTIFY_CHANNEL",
)


def unique_topology_names() -> dict[str, str]:
    """Return topology settings with names no other test run uses."""
    run = uuid.uuid4().hex[:10]
    return {
        "EVENTS_EXCHANGE": f"test.{run}.events",
        "DEAD_LETTER_EXCHANGE": f"test.{run}.dlx",
        "NOTIFIER_QUEUE": f"test.{run}.notifier",
        "NOTIFIER_DEAD_LETTER_QUEUE": f"test.{run}.notifier.dlq",
        "OUTBOX_NOTIFY_CHANNEL": f"test_{run}_outbox",
    }


def delete_topology() -> None:
    """Delete the queues and exchanges named by the current settings."""
    connection = pika.BlockingConnection(pika.URLParameters(settings.AMQP_URL))
    try:
        channel = connection.channel()
        topology = event_topology()
        for queue in topology.queues:
            channel.queue_delete(queue.name)
            channel.queue_delete(queue.dead_letter_queue)
        channel.exchange_delete(topology.exchange)
        channel.exchange_delete(topology.dead_letter_exchange)
    finally:
        connection.close()


@contextmanager
def broker_channel() -> Iterator[pika.adapters.blocking_connection.BlockingChannel]:
    """Yield a channel on the test broker (``AMQP_URL``), closed afterwards."""
    connection = pika.BlockingConnection(pika.URLParameters(settings.AMQP_URL))
    try:
        yield connection.channel()
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
