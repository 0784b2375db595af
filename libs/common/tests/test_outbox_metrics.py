import socket
import subprocess
import sys
from datetime import timedelta

import pytest
import requests
from django.db import connection
from django.utils import timezone
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.parser import text_string_to_metric_families

from ecomms_common.outbox.metrics import OutboxGauges
from ecomms_common.outbox.models import OutboxMessage
from ecomms_common.testing.running import wait_for
from tests.relaying import place, subprocess_env

pytestmark = pytest.mark.django_db(transaction=True)

GAUGES = (
    "ecomms_outbox_backlog",
    "ecomms_outbox_oldest_unsent_age_seconds",
    "ecomms_outbox_parked_rows",
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def scrape(port: int) -> dict[str, float]:
    """Return the outbox gauges a metrics server answers with, as Prometheus reads them."""
    response = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    response.raise_for_status()
    text = response.text
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name in GAUGES
    }


@pytest.fixture
def gauges_port() -> int:
    """A metrics server serving only the outbox gauges, answering each scrape in its own thread
    as the relay's does."""
    registry = CollectorRegistry()
    registry.register(OutboxGauges())
    port = _free_port()
    server, thread = start_http_server(port, "127.0.0.1", registry=registry)
    yield port
    server.shutdown()
    thread.join(5)


def test_an_empty_outbox_reports_no_backlog_and_no_age(gauges_port):
    assert scrape(gauges_port) == dict.fromkeys(GAUGES, 0.0)


def test_the_gauges_count_waiting_and_parked_rows_and_age_the_oldest_waiting_one(gauges_port):
    oldest, _waiting, published, parked = place(4)
    now = timezone.now()
    OutboxMessage.objects.filter(event_id=oldest.event_id).update(
        created_at=now - timedelta(seconds=120)
    )
    OutboxMessage.objects.filter(event_id=published.event_id).update(
        created_at=now - timedelta(hours=1), published_at=now
    )
    OutboxMessage.objects.filter(event_id=parked.event_id).update(
        created_at=now - timedelta(hours=2), parked_at=now
    )
    gauges = scrape(gauges_port)
    assert gauges["ecomms_outbox_backlog"] == 2  # neither the published nor the parked row
    assert gauges["ecomms_outbox_parked_rows"] == 1
    # the oldest waiting row's age, not the parked or the published one's
    assert 120 <= gauges["ecomms_outbox_oldest_unsent_age_seconds"] < 180

    OutboxMessage.objects.filter(published_at__isnull=True, parked_at__isnull=True).update(
        published_at=timezone.now()
    )
    assert scrape(gauges_port) == {**dict.fromkeys(GAUGES, 0.0), "ecomms_outbox_parked_rows": 1}


def test_a_scrape_the_database_cannot_answer_still_succeeds_without_the_gauges(gauges_port):
    place(1)
    table = OutboxMessage._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f'ALTER TABLE "{table}" RENAME TO "{table}_away"')
    try:
        assert scrape(gauges_port) == {}
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f'ALTER TABLE "{table}_away" RENAME TO "{table}"')
    assert scrape(gauges_port)["ecomms_outbox_backlog"] == 1


def test_the_relay_serves_the_gauges_while_it_cannot_reach_rabbitmq():
    place(2)
    port = _free_port()
    relay = subprocess.Popen(
        [sys.executable, "-m", "django", "relay_outbox"],
        env=subprocess_env(
            AMQP_URL=f"amqp://guest:guest@127.0.0.1:{_free_port()}/",  # nothing listens there
            OUTBOX_RELAY_METRICS_PORT=str(port),
            OUTBOX_RELAY_METRICS_HOST="127.0.0.1",
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        def answered() -> dict[str, float] | None:
            try:
                return scrape(port)
            except requests.ConnectionError:
                return None

        gauges = wait_for(answered, what="the relay's metrics server")
        assert gauges["ecomms_outbox_backlog"] == 2
        assert gauges["ecomms_outbox_oldest_unsent_age_seconds"] > 0
    finally:
        relay.terminate()
        relay.wait(15)
