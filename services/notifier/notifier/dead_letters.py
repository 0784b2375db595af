"""Reading and replaying the notifier's dead-letter queue."""

from dataclasses import dataclass

import pika
from django.conf import settings

from ecomms_common.amqp import connection_parameters, declare_topology
from notifier.topology import notifier_topology


@dataclass(frozen=True)
class DeadLetter:
    message_id: str | None
    queue: str  # the queue it died in
    reason: str  # rejected, expired, delivery_limit, ...
    routing_key: str  # the routing key it was first published with
    body: bytes


def _dead_letter(properties: pika.BasicProperties, body: bytes) -> DeadLetter:
    deaths = (properties.headers or {}).get("x-death") or [{}]
    death = deaths[0]
    first = (properties.headers or {}).get("x-first-death-reason")
    return DeadLetter(
        message_id=properties.message_id,
        queue=str(death.get("queue", settings.NOTIFIER_QUEUE)),
        reason=str(death.get("reason") or first or "unknown"),
        routing_key=str((death.get("routing-keys") or [""])[0]),
        body=body,
    )


def dead_letters_count() -> int:
    """Return how many dead letters wait, without declaring or touching the queue."""
    parameters = connection_parameters()
    # Asked at every metrics scrape: a broker that does not answer must not hold the scrape up.
    parameters.socket_timeout = parameters.stack_timeout = settings.READINESS_TIMEOUT_SECONDS
    connection = pika.BlockingConnection(parameters)
    try:
        declared = connection.channel().queue_declare(
            settings.NOTIFIER_DEAD_LETTER_QUEUE, passive=True
        )
        return declared.method.message_count
    finally:
        connection.close()


def dead_letters_list(*, limit: int = 100) -> list[DeadLetter]:
    """Return up to ``limit`` dead letters without removing them."""
    connection = pika.BlockingConnection(connection_parameters())
    try:
        channel = connection.channel()
        declare_topology(channel, notifier_topology())
        letters = []
        while len(letters) < limit:
            method, properties, body = channel.basic_get(settings.NOTIFIER_DEAD_LETTER_QUEUE)
            if method is None:
                break
            letters.append(_dead_letter(properties, body))
        # Closing without acks puts every message back, in order.
        return letters
    finally:
        connection.close()


def dead_letters_replay(*, limit: int | None = None, message_id: str | None = None) -> int:
    """Put dead letters back on the queue they died in; return how many were replayed."""
    connection = pika.BlockingConnection(connection_parameters())
    replayed = 0
    try:
        channel = connection.channel()
        declare_topology(channel, notifier_topology())
        channel.confirm_delivery()
        skipped = []
        while limit is None or replayed < limit:
            method, properties, body = channel.basic_get(settings.NOTIFIER_DEAD_LETTER_QUEUE)
            if method is None:
                break
            if message_id is not None and properties.message_id != message_id:
                skipped.append(method.delivery_tag)
                continue
            letter = _dead_letter(properties, body)
            headers = {
                k: v for k, v in (properties.headers or {}).items() if not k.startswith("x-")
            }
            replay_properties = pika.BasicProperties(
                content_type=properties.content_type,
                delivery_mode=2,
                message_id=properties.message_id,
                correlation_id=properties.correlation_id,
                type=properties.type,
                timestamp=properties.timestamp,
                headers={**headers, "x-replayed-from": settings.NOTIFIER_DEAD_LETTER_QUEUE},
            )
            # Straight to the queue it died in (default exchange), not to every bound queue.
            channel.basic_publish(
                "", letter.queue, body, properties=replay_properties, mandatory=True
            )
            channel.basic_ack(method.delivery_tag)
            replayed += 1
        for tag in skipped:
            channel.basic_nack(tag, requeue=True)
        return replayed
    finally:
        connection.close()
