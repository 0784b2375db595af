import logging
from collections.abc import Iterator

from pika.exceptions import AMQPError
from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from notifier.dead_letters import dead_letters_count

logger = logging.getLogger(__name__)

EVENTS_CONSUMED = Counter(
    "notifier_events_consumed",
    "Events taken from the queue, by outcome (processed, duplicate, dead_lettered).",
    ["event_type", "outcome"],
)
DELIVERIES = Counter(
    "notifier_deliveries",
    "Delivery outcomes by channel and status (sent, failed, skipped, retry).",
    ["channel", "status"],
)
DELIVERY_LATENCY = Histogram(
    "notifier_delivery_latency_seconds",
    "From the event's occurred_at (the order's commit) to the provider accepting the message.",
    ["channel"],
    buckets=(0.05, 0.1, 0.25, 0.5, 0.75, 1, 2, 5, 10, 30, 60, 300, 1800, 3600),
)


class DeadLetterGauge(Collector):
    """``notifier_dead_letters``: the dead-letter queue's depth, asked of RabbitMQ at each scrape
    (every consumer reports the same queue). A scrape while the broker or the queue is missing
    carries no value."""

    def describe(self) -> list[GaugeMetricFamily]:
        # Without it, registering the collector would ask the broker.
        return [self.family()]

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            waiting = dead_letters_count()
        except (AMQPError, OSError) as exc:
            logger.warning("dead letters not counted: %r", exc)
            return
        yield self.family(waiting)

    @staticmethod
    def family(waiting: int | None = None) -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "notifier_dead_letters",
            "Events waiting in the notifier's dead-letter queue (manage.py dead_letters).",
            value=waiting,
        )


REGISTRY.register(DeadLetterGauge())
