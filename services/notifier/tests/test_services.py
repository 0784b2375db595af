from datetime import timedelta

import pytest
from django.utils import timezone
from notifier.models import Delivery, InboxEvent
from notifier.selectors import due_delivery_ids
from notifier.services import (
    delivery_attempt,
    event_receive,
    events_receive,
    retry_delay,
)

from ecomms_common.events import MalformedEvent
from ecomms_standins.sms import Answer
from tests.helpers import order_cancelled, order_paid, order_placed, phone_verification

pytestmark = pytest.mark.django_db


def test_an_event_is_taken_in_once_with_one_delivery_per_channel(settings):
    settings.ADMIN_EMAIL = "admin@ecomms.test"
    envelope = order_placed(order_id=77)
    ids = event_receive(envelope=envelope)
    assert event_receive(envelope=envelope) is None
    assert InboxEvent.objects.count() == 1
    sms = Delivery.objects.get(channel="sms")
    email = Delivery.objects.get(channel="email")
    assert sorted(ids) == sorted([sms.id, email.id])
    assert sms.recipient == envelope.data["customer"]["phone"]
    assert sms.body == "Your order #77 has been placed. Total: 10.97 USD. Thank you!"
    assert (email.recipient, email.subject) == ("admin@ecomms.test", "New order #77")
    assert email.body == "Customer: Wanjiru Kamau\nTotal: 10.97 USD\nItems: 2"


def test_a_cancellation_is_taken_in_once_with_an_sms_and_an_admin_email(settings):
    settings.ADMIN_EMAIL = "admin@ecomms.test"
    envelope = order_cancelled(order_id=78)
    ids = event_receive(envelope=envelope)
    assert event_receive(envelope=envelope) is None
    deliveries = {d.channel: d for d in Delivery.objects.all()}
    assert sorted(ids) == sorted(d.id for d in deliveries.values())
    assert deliveries["sms"].recipient == envelope.data["customer"]["phone"]
    assert deliveries["sms"].body == "Your order #78 (10.97 USD) has been cancelled."
    assert (deliveries["email"].recipient, deliveries["email"].subject) == (
        "admin@ecomms.test",
        "Order #78 cancelled",
    )


def test_a_payment_is_taken_in_once_with_an_sms_only():
    envelope = order_paid(order_id=79)
    [sms_id] = event_receive(envelope=envelope)
    assert event_receive(envelope=envelope) is None
    [sms] = Delivery.objects.all()
    assert (sms.id, sms.channel, sms.event.event_type) == (sms_id, "sms", "order.paid")
    assert sms.body == "Payment of 10.97 USD received for your order #79. Thank you!"


def test_a_payment_without_a_phone_has_nothing_to_send():
    assert event_receive(envelope=order_paid(phone=None)) == []
    assert Delivery.objects.get().status == Delivery.Status.SKIPPED


def test_an_order_without_a_phone_skips_the_sms():
    ids = event_receive(envelope=order_placed(phone=None))
    sms = Delivery.objects.get(channel="sms")
    assert sms.status == Delivery.Status.SKIPPED
    assert sms.last_error == "the customer has no verified phone number"
    assert ids == [Delivery.objects.get(channel="email").id]


def test_a_verification_is_one_sms_with_the_code_to_the_number_and_no_email(settings):
    settings.ADMIN_EMAIL = "admin@ecomms.test"
    envelope = phone_verification(phone="+254711000222", code="120034")

    [sms_id] = event_receive(envelope=envelope)

    assert event_receive(envelope=envelope) is None
    [sms] = Delivery.objects.all()
    assert (sms.id, sms.channel, sms.recipient, sms.status) == (
        sms_id,
        "sms",
        "+254711000222",
        Delivery.Status.PENDING,
    )
    assert "120034" in sms.body
    assert sms.event.event_type == "customer.phone_verification_requested"


def test_a_code_that_expired_before_it_was_taken_in_is_not_sent():
    assert event_receive(envelope=phone_verification(valid_seconds=-1)) == []

    sms = Delivery.objects.get()
    assert (sms.status, sms.last_error, sms.body) == (
        Delivery.Status.SKIPPED,
        "the code expired before it could be sent",
        "",
    )


def test_a_codes_text_is_kept_while_it_may_be_sent_and_blanked_once_sent(sms_standin):
    [sms_id] = event_receive(envelope=phone_verification(phone="+254711000444", code="345678"))
    sms_standin.reply = lambda s: Answer(http_status=500)
    assert delivery_attempt(delivery_id=sms_id).status == Delivery.Status.PENDING
    assert "345678" in Delivery.objects.get().body  # the retry needs it
    Delivery.objects.update(next_attempt_at=timezone.now())
    sms_standin.reply = lambda s: Answer()

    assert delivery_attempt(delivery_id=sms_id).status == Delivery.Status.SENT

    assert [s.message for s in sms_standin.accepted][-1].startswith(
        "Your ecomms verification code is 345678."
    )
    assert Delivery.objects.get().body == ""


def test_a_codes_text_is_blanked_when_its_sms_fails_for_good(sms_standin):
    [sms_id] = event_receive(envelope=phone_verification(phone="+254711000555"))
    sms_standin.reply = lambda s: Answer(status_code=403)

    assert delivery_attempt(delivery_id=sms_id).status == Delivery.Status.FAILED

    assert Delivery.objects.get().body == ""


def test_an_order_sms_keeps_its_text_once_sent(sms_standin):
    event_receive(envelope=order_placed(order_id=81))

    delivery_attempt(delivery_id=Delivery.objects.get(channel="sms").id)

    assert Delivery.objects.get(channel="sms").body.startswith("Your order #81")


def test_a_malformed_payload_records_nothing():
    envelope = order_placed()
    del envelope.data["items"]
    with pytest.raises(MalformedEvent):
        event_receive(envelope=envelope)
    assert not InboxEvent.objects.exists()


def test_a_transient_failure_is_retried_later_then_sent(sms_standin, settings):
    settings.NOTIFIER_RETRY_BASE_SECONDS = 60
    event_receive(envelope=order_placed(phone="+254700000001"))
    sms = Delivery.objects.get(channel="sms")
    sms_standin.reply = lambda s: Answer(http_status=500)
    failed = delivery_attempt(delivery_id=sms.id)
    assert failed.status == Delivery.Status.PENDING
    assert failed.attempts == 1
    assert "error reply" in failed.last_error
    assert failed.next_attempt_at > timezone.now()
    # Not due yet: nothing happens.
    assert delivery_attempt(delivery_id=sms.id) is None
    assert sms.id not in due_delivery_ids()
    Delivery.objects.filter(id=sms.id).update(next_attempt_at=timezone.now())
    sms_standin.reply = lambda s: Answer()
    sent = delivery_attempt(delivery_id=sms.id)
    assert (sent.status, sent.attempts, sent.last_error) == (Delivery.Status.SENT, 2, "")
    assert sent.provider_message_id.startswith("ATXid_")
    assert [s.to for s in sms_standin.accepted] == ["+254700000001"]
    assert delivery_attempt(delivery_id=sms.id) is None  # sent once, never again


def test_a_delivery_fails_after_its_last_attempt(sms_standin, settings):
    settings.NOTIFIER_DELIVERY_MAX_ATTEMPTS = 2
    event_receive(envelope=order_placed())
    sms = Delivery.objects.get(channel="sms")
    sms_standin.reply = lambda s: Answer(status_code=500)
    delivery_attempt(delivery_id=sms.id)
    Delivery.objects.filter(id=sms.id).update(next_attempt_at=timezone.now())
    final = delivery_attempt(delivery_id=sms.id)
    assert (final.status, final.attempts) == (Delivery.Status.FAILED, 2)
    assert final.next_attempt_at is None


def test_an_invalid_number_fails_at_once(sms_standin):
    event_receive(envelope=order_placed(phone="0712345678"))
    sms = delivery_attempt(delivery_id=Delivery.objects.get(channel="sms").id)
    assert (sms.status, sms.attempts) == (Delivery.Status.FAILED, 1)
    assert sms_standin.requests == []


def test_retry_delays_double_up_to_the_cap(settings):
    settings.NOTIFIER_RETRY_BASE_SECONDS = 5
    settings.NOTIFIER_RETRY_MAX_SECONDS = 30
    assert [retry_delay(n).total_seconds() for n in range(1, 6)] == [5, 10, 20, 30, 30]


def _lapsed_claim(delivery_id: int, *, attempts: int) -> None:
    """Leave a delivery as a worker that died mid-attempt leaves it: sending, lease run out."""
    Delivery.objects.filter(id=delivery_id).update(
        status=Delivery.Status.SENDING, attempts=attempts, next_attempt_at=timezone.now()
    )


def test_a_claim_whose_lease_ran_out_is_taken_over_and_sent_once(sms_standin):
    event_receive(envelope=order_placed(phone="+254700000002"))
    sms = Delivery.objects.get(channel="sms")
    _lapsed_claim(sms.id, attempts=1)
    sent = delivery_attempt(delivery_id=sms.id)
    assert (sent.status, sent.attempts) == (Delivery.Status.SENT, 2)
    assert [s.to for s in sms_standin.accepted] == ["+254700000002"]
    assert delivery_attempt(delivery_id=sms.id) is None


def test_a_lapsed_claim_on_its_last_attempt_fails_without_sending(sms_standin, settings):
    settings.NOTIFIER_DELIVERY_MAX_ATTEMPTS = 3
    event_receive(envelope=order_placed())
    sms = Delivery.objects.get(channel="sms")
    _lapsed_claim(sms.id, attempts=3)
    assert delivery_attempt(delivery_id=sms.id) is None
    sms.refresh_from_db()
    assert (sms.status, sms.attempts, sms.next_attempt_at) == (Delivery.Status.FAILED, 3, None)
    assert sms.last_error == "attempt 3: outcome never recorded"
    assert sms_standin.requests == []


def test_a_claim_still_within_its_lease_is_left_alone(sms_standin):
    event_receive(envelope=order_placed())
    sms = Delivery.objects.get(channel="sms")
    Delivery.objects.filter(id=sms.id).update(
        status=Delivery.Status.SENDING,
        attempts=1,
        next_attempt_at=timezone.now() + timedelta(seconds=60),
    )
    assert delivery_attempt(delivery_id=sms.id) is None
    assert sms_standin.requests == []


def test_two_copies_of_an_event_in_one_batch_are_taken_in_once(settings):
    envelope = order_placed()
    first, second = events_receive(envelopes=[envelope, envelope])
    assert len(first) == 2 and second is None
    assert Delivery.objects.count() == 2
