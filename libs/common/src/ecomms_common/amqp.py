"""RabbitMQ plumbing shared by the relay and the consumers: connections, topology, backoff.

The bus names no consumer. Producers publish to the events exchange; each consumer declares and
binds a queue of its own (a :class:`ConsumerQueue` in its :class:`Topology`) when it starts.
The exchanges' names come from settings (``EVENTS_EXCHANGE``, ``DEAD_LETTER_EXCHANGE``), so tests
declare their own. Declarations are idempotent: the relay declares the exchanges at start, a
consumer the exchanges and its queues. Every queue argument is explicit because RabbitMQ 3.10 and
4.x have different defaults.
"""

import random
from dataclasses import dataclass, field

import pika
from django.conf import settings
from pika.adapters.blocking_connection import BlockingChannel


def connection_parameters(url: str | None = None) -> pika.URLParameters:
    """Return parameters for ``AMQP_URL`` with heartbeats and a bound on broker blocking."""
    parameters = pika.URLParameters(url or settings.AMQP_URL)
    parameters.heartbeat = settings.AMQP_HEARTBEAT_SECONDS
    # Without it a broker resource alarm blocks basic_publish forever.
    parameters.blocked_connection_timeout = settings.AMQP_BLOCKED_TIMEOUT_SECONDS
    parameters.socket_timeout = 5
    parameters.stack_timeout = 10
    parameters.connection_attempts = 1
    parameters.client_properties = {"connection_name": f"ecomms {settings.SERVICE_NAME}"}
    return parameters


@dataclass(frozen=True)
class ConsumerQueue:
    """A quorum queue bound to the events exchange, dead-lettering to its own DLQ."""

    name: str
    dead_letter_queue: str
    binding_keys: list[str]
    delivery_limit: int

    @property
    def arguments(self) -> dict:
        return {
            "x-queue-type": "quorum",
            "x-delivery-limit": self.delivery_limit,
            "x-dead-letter-exchange": settings.DEAD_LETTER_EXCHANGE,
            # Dead letters are routed by the queue they died in, not their event's routing key.
            "x-dead-letter-routing-key": self.name,
        }


@dataclass(frozen=True)
class Topology:
    exchange: str
    dead_letter_exchange: str
    queues: list[ConsumerQueue] = field(default_factory=list)


def event_topology(queues: list[ConsumerQueue] | None = None) -> Topology:
    """Return the exchanges every event process declares at start, and ``queues`` (a consumer's
    own) bound to them."""
    return Topology(
        exchange=settings.EVENTS_EXCHANGE,
        dead_letter_exchange=settings.DEAD_LETTER_EXCHANGE,
        queues=list(queues or []),
    )


# A dead-letter queue holds messages until someone replays them: a classic queue, because a
# quorum queue on RabbitMQ 4 would drop a message that was listed (returned) 20 times.
DEAD_LETTER_QUEUE_ARGUMENTS = {"x-queue-type": "classic"}


def declare_topology(channel: BlockingChannel, topology: Topology) -> Topology:
    """Declare the exchanges, queues and bindings (idempotent); return what was declared."""
    channel.exchange_declare(topology.exchange, exchange_type="topic", durable=True)
    channel.exchange_declare(topology.dead_letter_exchange, exchange_type="direct", durable=True)
    for queue in topology.queues:
        channel.queue_declare(queue.name, durable=True, arguments=queue.arguments)
        for key in queue.binding_keys:
            channel.queue_bind(queue.name, topology.exchange, routing_key=key)
        channel.queue_declare(
            queue.dead_letter_queue, durable=True, arguments=DEAD_LETTER_QUEUE_ARGUMENTS
        )
        channel.queue_bind(
            queue.dead_letter_queue, topology.dead_letter_exchange, routing_key=queue.name
        )
    return topology


class Backoff:
    """Exponential delays with full jitter, reset after a success."""

    def __init__(self, *, initial: float = 0.2, maximum: float = 30.0) -> None:
        self.initial = initial
        self.maximum = maximum
        self.failures = 0

    def next_delay(self) -> float:
        ceiling = min(self.maximum, self.initial * 2**self.failures)
        self.failures += 1
        return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not a secret

    def reset(self) -> None:
        self.failures = 0
