"""From a committed order to the customer's SMS and the admin's email, through real RabbitMQ."""

import itertools
import time

import pika
import pytest
from django.core.management import call_command
from notifier.models import Delivery, InboxEvent
from prometheus_client import REGISTRY

from ecomms_common.outbox.models import OutboxMessage
from ecomms_common.testing.broker import broker_channel, drain, queue_depth
from ecomms_common.testing.running import running_relay, wait_for
from ecomms_standins.tcpproxy import TcpProxy
from tests.helpers import (
    commit_event,
    order_cancelled,
    order_paid,
    order_placed,
    phone_verification,
    place_order,
    running_notifier,
    settled,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("notifier_queue", "fast_retries"),
]


def _metric(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_an_order_placed_sends_one_sms_and_one_admin_email(sms_standin, smtp):
    consumed = _metric(
        "notifier_events_consumed_total", event_type="order.placed", outcome="processed"
    )
    sent_sms = _metric("notifier_deliveries_total", channel="sms", status="sent")
    latencies = _metric("notifier_delivery_latency_seconds_count", channel="email")
    with running_relay(), running_notifier():
        envelope = place_order(order_id=4242)
        wait_for(settled(1), what="both deliveries")

    phone = envelope.data["customer"]["phone"]
    assert [(s.to, s.message) for s in sms_standin.requests] == [
        (phone, "Your order #4242 has been placed. Total: 10.97 USD. Thank you!")
    ]
    [mail] = smtp.messages
    assert mail["Subject"] == "New order #4242"
    assert mail["To"] == "admin@ecomms.test"
    assert (
        mail.get_content().replace("\r\n", "\n").strip()
        == "Customer: Wanjiru Kamau\nTotal: 10.97 USD\nItems: 2"
    )
    assert set(Delivery.objects.values_list("channel", "status", "attempts")) == {
        ("sms", "sent", 1),
        ("email", "sent", 1),
    }
    assert (
        _metric("notifier_events_consumed_total", event_type="order.placed", outcome="processed")
        == consumed + 1
    )
    assert _metric("notifier_deliveries_total", channel="sms", status="sent") == sent_sms + 1
    assert _metric("notifier_delivery_latency_seconds_count", channel="email") == latencies + 1


def test_an_order_without_a_phone_sends_only_the_email(sms_standin, smtp):
    with running_relay(), running_notifier():
        place_order(phone=None)
        wait_for(settled(1), what="the email")
    assert sms_standin.requests == []
    assert len(smtp.messages) == 1
    assert Delivery.objects.get(channel="sms").status == Delivery.Status.SKIPPED


def test_a_verification_code_is_texted_once_to_the_number_and_nothing_else(
    sms_standin, smtp, settings
):
    envelope = phone_verification(phone="+254711000333", code="550123")
    with running_relay(), running_notifier():
        commit_event(envelope)
        place_order(phone=None)  # an order without a verified phone: no SMS at all
        wait_for(settled(2), what="the code's SMS")
        # The same event again (a relay that died before marking it sent): texted once.
        properties = pika.BasicProperties(
            content_type="application/json", delivery_mode=2, message_id=envelope.event_id
        )
        labels = {"event_type": envelope.event_type, "outcome": "duplicate"}
        duplicates = _metric("notifier_events_consumed_total", **labels)
        with broker_channel() as channel:
            channel.basic_publish(
                settings.EVENTS_EXCHANGE, envelope.routing_key, envelope.to_json(), properties
            )
        wait_for(
            lambda: _metric("notifier_events_consumed_total", **labels) == duplicates + 1,
            what="the second copy to be dropped",
        )

    assert [(s.to, s.message) for s in sms_standin.requests] == [
        (
            "+254711000333",
            "Your ecomms verification code is 550123. It expires in 10 minutes."
            " Do not share it with anyone.",
        )
    ]
    assert len(smtp.messages) == 1  # the order's admin email; the code sends none
    assert Delivery.objects.get(event__event_type=envelope.event_type).body == ""  # code gone
    assert sorted(Delivery.objects.values_list("event__event_type", "channel", "status")) == [
        ("customer.phone_verification_requested", "sms", "sent"),
        ("order.placed", "email", "sent"),
        ("order.placed", "sms", "skipped"),
    ]


def test_smtp_451_then_250_sends_one_email_after_a_retry(sms_standin, smtp):
    answers = iter(["451 4.7.1 Greylisted, try again later"])

    def slow_first_reply(envelope) -> str:
        answer = next(answers, None)
        if answer is None:
            return "250 OK"
        time.sleep(0.5)  # the email stays claimed (sending) meanwhile: not settled yet
        return answer

    smtp.reply = slow_first_reply
    with running_relay(), running_notifier():
        place_order()
        wait_for(settled(1), what="the retried email")
    email = Delivery.objects.get(channel="email")
    assert (email.status, email.attempts) == (Delivery.Status.SENT, 2)
    assert (smtp.attempts, len(smtp.messages)) == (2, 1)
    assert len(sms_standin.accepted) == 1
    assert Delivery.objects.get(channel="sms").attempts == 1


def test_smtp_550_fails_the_email_without_retry_and_the_sms_still_goes(sms_standin, smtp):
    smtp.reply = lambda envelope: "550 5.1.1 No such mailbox"
    with running_relay(), running_notifier():
        place_order()
        place_order()  # a later event is handled as usual
        wait_for(settled(2), what="both events")
    assert list(Delivery.objects.filter(channel="email").values_list("status", "attempts")) == [
        ("failed", 1),
        ("failed", 1),
    ]
    assert "550" in Delivery.objects.filter(channel="email").first().last_error
    assert smtp.attempts == 2
    assert len(sms_standin.accepted) == 2


def test_a_slow_retry_does_not_hold_up_other_orders(sms_standin, smtp, settings):
    settings.NOTIFIER_RETRY_BASE_SECONDS = 3600
    first = itertools.count()
    smtp.reply = lambda envelope: "421 4.3.2 Busy" if next(first) == 0 else "250 OK"
    with running_relay(), running_notifier():
        place_order()
        place_order()
        wait_for(
            lambda: (
                Delivery.objects.filter(status=Delivery.Status.SENT).count() == 3
                and Delivery.objects.filter(status=Delivery.Status.PENDING).exists()
            ),
            what="the other deliveries, and the refused one back to waiting",
        )
    waiting = Delivery.objects.get(status=Delivery.Status.PENDING)
    assert (waiting.channel, waiting.attempts) == ("email", 1)
    assert "421" in waiting.last_error


def publish_twice(envelope, routing_key: str, settings) -> None:
    """Publish one event twice, as a relay retrying after a lost confirm would."""
    properties = pika.BasicProperties(
        content_type="application/json", delivery_mode=2, message_id=envelope.event_id
    )
    with broker_channel() as channel:
        for _ in range(2):
            channel.basic_publish(
                settings.EVENTS_EXCHANGE, routing_key, envelope.to_json(), properties
            )
    wait_for(lambda: queue_depth(settings.NOTIFIER_QUEUE) == 0, what="both copies")


def test_an_event_published_twice_sends_one_sms(sms_standin, smtp, settings):
    envelope = order_placed()
    with running_notifier():
        publish_twice(envelope, "order.placed.v1", settings)
        wait_for(settled(1), what="the deliveries")
    assert len(sms_standin.requests) == 1
    assert len(smtp.messages) == 1


def test_orders_keep_committing_while_rabbitmq_is_down_and_are_delivered_once_after(
    sms_standin, smtp, settings
):
    settings.OUTBOX_RETRY_MAX_SECONDS = 0.5
    with TcpProxy("127.0.0.1", 5672) as proxy:
        url = f"amqp://guest:guest@127.0.0.1:{proxy.port}/"
        with running_relay(amqp_url=url), running_notifier(amqp_url=url) as worker:
            place_order()
            wait_for(settled(1), what="the first order")
            proxy.cut()
            wait_for(lambda: not worker.consumer.connected.is_set(), what="the outage")
            during = [place_order() for _ in range(5)]  # every order still commits
            assert InboxEvent.objects.count() == 1
            proxy.restore()
            wait_for(settled(6), what="the orders placed during the outage")
    phones = sorted(s.to for s in sms_standin.requests)
    expected = sorted([*(e.data["customer"]["phone"] for e in during)])
    assert len(phones) == 6
    assert set(expected) <= set(phones)
    assert len(set(phones)) == 6
    assert len(smtp.messages) == 6


def test_a_poison_message_is_dead_lettered_and_replay_brings_it_back(
    sms_standin, smtp, settings, capsys
):
    poison = pika.BasicProperties(content_type="application/json", message_id="poison-1")
    with running_relay(), running_notifier():
        with broker_channel() as channel:
            channel.basic_publish(settings.EVENTS_EXCHANGE, "order.placed.v1", b"{not json", poison)
        place_order()
        wait_for(settled(1), what="the order after the poison")
        wait_for(lambda: queue_depth(settings.NOTIFIER_DEAD_LETTER_QUEUE) == 1, what="the DLQ")
    assert len(sms_standin.requests) == 1

    call_command("dead_letters", "list")
    listing = capsys.readouterr().out
    assert "poison-1" in listing and "rejected" in listing and "order.placed.v1" in listing
    assert queue_depth(settings.NOTIFIER_DEAD_LETTER_QUEUE) == 1  # listing keeps them

    call_command("dead_letters", "replay", "--message-id", "other")
    assert queue_depth(settings.NOTIFIER_DEAD_LETTER_QUEUE) == 1
    call_command("dead_letters", "replay")
    assert "replayed 1 dead letters" in capsys.readouterr().out
    assert queue_depth(settings.NOTIFIER_DEAD_LETTER_QUEUE) == 0
    [(_, properties, body)] = drain(settings.NOTIFIER_QUEUE)
    assert (properties.message_id, body) == ("poison-1", b"{not json")


def test_two_consumers_side_by_side_send_each_message_once(sms_standin, smtp):
    with running_relay(), running_notifier(), running_notifier():
        orders = [place_order() for _ in range(20)]
        wait_for(settled(20), what="every order's deliveries")
    phones = sorted(order.data["customer"]["phone"] for order in orders)
    assert sorted(sms.to for sms in sms_standin.requests) == phones
    assert len(smtp.messages) == 20


def test_an_order_cancelled_then_another_paid_each_tell_the_customer_once(sms_standin, smtp):
    with running_relay(), running_notifier():
        placed = place_order(order_id=501)
        wait_for(settled(1), what="the order placed")
        cancelled = order_cancelled(order_id=501)
        cancelled.data["customer"]["phone"] = placed.data["customer"]["phone"]
        commit_event(cancelled)
        paid = commit_event(order_paid(order_id=502))
        wait_for(settled(3), what="the cancellation's and the payment's deliveries")

    by_phone = sorted((s.to, s.message) for s in sms_standin.requests)
    assert by_phone == sorted(
        [
            (
                placed.data["customer"]["phone"],
                "Your order #501 has been placed. Total: 10.97 USD. Thank you!",
            ),
            (placed.data["customer"]["phone"], "Your order #501 (10.97 USD) has been cancelled."),
            (
                paid.data["customer"]["phone"],
                "Payment of 10.97 USD received for your order #502. Thank you!",
            ),
        ]
    )
    # The admins hear of the order and of its cancellation, not of the payment.
    assert sorted(mail["Subject"] for mail in smtp.messages) == [
        "New order #501",
        "Order #501 cancelled",
    ]
    cancel_mail = next(m for m in smtp.messages if m["Subject"] == "Order #501 cancelled")
    assert cancel_mail["To"] == "admin@ecomms.test"
    assert (
        cancel_mail.get_content().replace("\r\n", "\n").strip()
        == "Customer: Wanjiru Kamau\nTotal: 10.97 USD\nCancelled by: customer"
    )
    assert sorted(
        Delivery.objects.values_list("event__event_type", "channel", "status", "attempts")
    ) == [
        ("order.cancelled", "email", "sent", 1),
        ("order.cancelled", "sms", "sent", 1),
        ("order.paid", "sms", "sent", 1),
        ("order.placed", "email", "sent", 1),
        ("order.placed", "sms", "sent", 1),
    ]
    # Every event found the notifier's queue: nothing waits in the outbox, nothing was parked.
    assert OutboxMessage.objects.filter(published_at=None).count() == 0
    assert OutboxMessage.objects.filter(attempts__gt=1).count() == 0


def test_a_status_change_published_twice_sends_one_sms(sms_standin, smtp, settings):
    envelope = order_paid()
    with running_notifier():
        publish_twice(envelope, "order.paid.v1", settings)
        wait_for(settled(1), what="the SMS")
    assert [s.to for s in sms_standin.requests] == [envelope.data["customer"]["phone"]]
    assert smtp.messages == []
