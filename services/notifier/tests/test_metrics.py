import pika
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ecomms_common.testing.broker import broker_channel, queue_depth
from ecomms_common.testing.contract import CLOSED_PORT_AMQP_URL
from ecomms_common.testing.running import wait_for
from tests.helpers import running_notifier

pytestmark = pytest.mark.django_db(transaction=True)


def dead_letters_metric(api_client) -> list[float]:
    """Return the notifier_dead_letters samples of the service's /metrics."""
    response = api_client.get("/metrics")
    assert response.status_code == 200
    return [
        sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
        if sample.name == "notifier_dead_letters"
    ]


@pytest.mark.usefixtures("notifier_queue")
def test_metrics_count_the_events_the_consumer_dead_lettered(api_client, settings):
    assert dead_letters_metric(api_client) == [0]
    poison = pika.BasicProperties(content_type="application/json", message_id="poison-1")
    with running_notifier():
        with broker_channel() as channel:
            for _ in range(2):
                channel.basic_publish(
                    settings.EVENTS_EXCHANGE, "order.placed.v1", b"{not json", poison
                )
        wait_for(lambda: queue_depth(settings.NOTIFIER_DEAD_LETTER_QUEUE) == 2, what="the DLQ")
    assert dead_letters_metric(api_client) == [2]


def test_metrics_answer_without_the_count_while_the_broker_is_unreachable(api_client, settings):
    settings.AMQP_URL = CLOSED_PORT_AMQP_URL
    assert dead_letters_metric(api_client) == []
