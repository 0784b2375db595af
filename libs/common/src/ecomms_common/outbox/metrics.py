"""The outbox's state as Prometheus gauges, read from the table at every scrape.

The relay's metrics server (``OUTBOX_RELAY_METRICS_PORT``) serves them beside its counters:

- ``ecomms_outbox_backlog``: rows waiting to be published (parked rows not counted);
- ``ecomms_outbox_oldest_unsent_age_seconds``: how long ago the oldest of them was committed
  (0 when none waits);
- ``ecomms_outbox_parked_rows``: rows parked as unroutable, waiting for ``outbox_parked --requeue``.

They are read when Prometheus asks, not kept up by the relay's loop, so they tell the truth while
the relay is stuck (RabbitMQ down, a publish that hangs) or stopped. When the database does not
answer, a scrape carries none of them.
"""

import logging
from collections.abc import Iterator

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.models import Count, Min, Q
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ecomms_common.outbox.models import OutboxMessage

logger = logging.getLogger(__name__)


class OutboxGauges(Collector):
    """Collect the outbox gauges with one query over the unpublished rows."""

    def __init__(self, *, using: str = DEFAULT_DB_ALIAS) -> None:
        self.using = using

    def describe(self) -> list[GaugeMetricFamily]:
        # Without it, registering the collector would query the database.
        return list(self.families())

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            # The metrics server answers each scrape in a new thread: close what it opens.
            with connections[self.using].temporary_connection():
                state = (
                    OutboxMessage.objects.using(self.using)
                    .filter(published_at__isnull=True)
                    .aggregate(
                        backlog=Count("id", filter=Q(parked_at__isnull=True)),
                        parked=Count("id", filter=Q(parked_at__isnull=False)),
                        oldest=Min("created_at", filter=Q(parked_at__isnull=True)),
                    )
                )
        except DatabaseError as exc:
            logger.warning("outbox gauges not read: %r", exc)
            return
        oldest = state["oldest"]
        age = max(0.0, (timezone.now() - oldest).total_seconds()) if oldest else 0.0
        yield from self.families(backlog=state["backlog"], age=age, parked=state["parked"])

    @staticmethod
    def families(
        *, backlog: int | None = None, age: float | None = None, parked: int | None = None
    ) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(
            "ecomms_outbox_backlog",
            "Outbox rows waiting to be published (parked rows not counted).",
            value=backlog,
        )
        yield GaugeMetricFamily(
            "ecomms_outbox_oldest_unsent_age_seconds",
            "Seconds since the oldest outbox row waiting to be published was committed (0: none).",
            value=age,
        )
        yield GaugeMetricFamily(
            "ecomms_outbox_parked_rows",
            "Outbox rows parked as unroutable, waiting for manage.py outbox_parked --requeue.",
            value=parked,
        )
