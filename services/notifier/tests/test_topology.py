"""The notifier owns its queue: it declares and binds it at start; the relay declares none."""

import pika
import pytest
from django.core.management import call_command

from ecomms_common.outbox.models import OutboxMessage
from ecomms_common.outbox.relay import OutboxRelay
from ecomms_common.testing.broker import broker_channel
from ecomms_common.testing.running import wait_for
from tests.helpers import commit_event, order_paid, place_order, running_notifier, settled

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("notifier_queue_names", "fast_retries"),
]


def _queue_exists(name: str) -> bool:
    with broker_channel() as channel:
        try:
            channel.queue_declare(name, passive=True)
        except pika.exceptions.ChannelClosedByBroker as exc:
            if exc.reply_code == 404:
                return False
            raise
    return True


def test_events_committed_before_the_notifier_ever_started_are_parked_then_requeued_once(
    sms_standin, smtp, settings
):
    settings.OUTBOX_UNROUTABLE_MAX_ATTEMPTS = 2
    placed, paid = place_order(), commit_event(order_paid())
    relay = OutboxRelay()
    try:
        relay.publish_batch()
        assert not _queue_exists(settings.NOTIFIER_QUEUE)  # the relay declares no queue
        OutboxMessage.objects.update(next_attempt_at=None)  # due again at once
        relay.publish_batch()
        assert OutboxMessage.objects.filter(parked_at__isnull=False).count() == 2

        with running_notifier():  # declares and binds its queue, then consumes
            assert _queue_exists(settings.NOTIFIER_QUEUE)
            assert _queue_exists(settings.NOTIFIER_DEAD_LETTER_QUEUE)
            call_command("outbox_parked", all=True)  # what the operator runs (README)
            assert relay.publish_batch() == 2
            wait_for(settled(2), what="the requeued events' deliveries")
    finally:
        relay.disconnect()

    assert sorted(s.to for s in sms_standin.requests) == sorted(
        [placed.data["customer"]["phone"], paid.data["customer"]["phone"]]
    )
    assert [m["Subject"] for m in smtp.messages] == [f"New order #{placed.data['order_id']}"]
    assert not OutboxMessage.objects.filter(published_at__isnull=True).exists()


def test_the_notifier_declares_its_queue_again_at_every_start(sms_standin, smtp, settings):
    with running_notifier():
        pass
    with running_notifier():  # same arguments: accepted, not a 406
        place_order()
        relay = OutboxRelay()
        try:
            assert relay.publish_batch() == 1
        finally:
            relay.disconnect()
        wait_for(settled(1), what="the order's deliveries")
    assert len(sms_standin.requests) == 1
