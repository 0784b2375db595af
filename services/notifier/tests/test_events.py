from datetime import UTC, datetime

import pytest
from notifier.events import OrderEvent, PhoneVerificationEvent, event_read
from notifier.messages import MESSAGES, message_render

from ecomms_common.events import Envelope, MalformedEvent
from tests.helpers import (
    ORDER_CANCELLED_EXAMPLE,
    ORDER_PAID_EXAMPLE,
    ORDER_PLACED_EXAMPLE,
    PHONE_VERIFICATION_EXAMPLE,
)


def _texts(event: OrderEvent) -> dict[str, str]:
    """Return every text the event's entry in MESSAGES renders, by part."""
    messages = MESSAGES[event.event_type]
    parts = ("sms", "email_subject", "email_body")
    return {
        part: message_render(getattr(messages, part), event=event)
        for part in parts
        if getattr(messages, part)
    }


def test_the_producers_example_order_placed_is_understood():
    envelope = Envelope.from_json(ORDER_PLACED_EXAMPLE.read_bytes())
    order = OrderEvent.from_envelope(envelope)
    assert order.order_id == 123
    assert order.customer_phone == "+254712345678"
    assert order.occurred_at == datetime(2026, 11, 25, 10, 0, 0, 123456, tzinfo=UTC)
    assert _texts(order) == {
        "sms": "Your order #123 has been placed. Total: 10.97 USD. Thank you!",
        "email_subject": "New order #123",
        "email_body": "Customer: Wanjiru Kamau\nTotal: 10.97 USD\nItems: 2",
    }


def test_the_producers_example_order_cancelled_tells_the_customer_and_the_admins():
    envelope = Envelope.from_json(ORDER_CANCELLED_EXAMPLE.read_bytes())
    event = OrderEvent.from_envelope(envelope)
    assert (event.order_id, event.customer_phone) == (123, "+254712345678")
    assert _texts(event) == {
        "sms": "Your order #123 (10.97 USD) has been cancelled.",
        "email_subject": "Order #123 cancelled",
        "email_body": "Customer: Wanjiru Kamau\nTotal: 10.97 USD\nCancelled by: customer",
    }


def test_the_producers_example_order_paid_tells_the_customer_only():
    envelope = Envelope.from_json(ORDER_PAID_EXAMPLE.read_bytes())
    event = OrderEvent.from_envelope(envelope)
    assert _texts(event) == {
        "sms": "Payment of 10.97 USD received for your order #123. Thank you!",
    }


def _example(path=ORDER_PLACED_EXAMPLE, **changes) -> Envelope:
    envelope = Envelope.from_json(path.read_bytes())
    return Envelope(**{**envelope.__dict__, **changes})


def test_an_order_without_a_phone_has_an_empty_phone():
    envelope = _example()
    del envelope.data["customer"]["phone"]
    assert OrderEvent.from_envelope(envelope).customer_phone == ""


@pytest.mark.parametrize(
    ("path", "changes", "message"),
    [
        (ORDER_PLACED_EXAMPLE, {"event_type": "order.shipped"}, "not handled"),
        (ORDER_PLACED_EXAMPLE, {"event_version": 2}, "not handled"),
        (ORDER_CANCELLED_EXAMPLE, {"event_version": 2}, "not handled"),
        (ORDER_PLACED_EXAMPLE, {"data": {"order_id": 1}}, "payload"),
        (ORDER_PLACED_EXAMPLE, {"occurred_at": "yesterday"}, "payload"),
        (ORDER_PLACED_EXAMPLE, {"occurred_at": "2026-11-25T10:00:00"}, "UTC offset"),
        # A status change has no items, and the placed event no changed_by: each is read as its
        # own type, not the other's.
        (ORDER_PAID_EXAMPLE, {"event_type": "order.placed"}, "order.placed v1 payload"),
        (ORDER_PLACED_EXAMPLE, {"event_type": "order.cancelled"}, "order.cancelled v1 payload"),
    ],
)
def test_an_event_it_cannot_use_is_malformed(path, changes, message):
    with pytest.raises(MalformedEvent, match=message):
        OrderEvent.from_envelope(_example(path, **changes))


def test_a_name_with_line_breaks_stays_on_the_customer_line_of_the_email():
    envelope = _example()
    envelope.data["customer"]["full_name"] = "Wanjiru\r\nTotal: 0.01 USD\nItems: 99"

    body = _texts(OrderEvent.from_envelope(envelope))["email_body"]

    assert body.splitlines() == [
        "Customer: Wanjiru Total: 0.01 USD Items: 99",
        "Total: 10.97 USD",
        "Items: 2",
    ]


def test_a_name_is_written_as_it_is_not_html_escaped():
    envelope = _example(ORDER_CANCELLED_EXAMPLE)
    envelope.data["customer"]["full_name"] = "O'Brien & <Sons>"

    body = _texts(OrderEvent.from_envelope(envelope))["email_body"]

    assert body.splitlines()[0] == "Customer: O'Brien & <Sons>"


def test_the_producers_example_phone_verification_texts_the_code_to_the_number():
    event = event_read(Envelope.from_json(PHONE_VERIFICATION_EXAMPLE.read_bytes()))

    assert isinstance(event, PhoneVerificationEvent)
    assert (event.sms_to, event.code, event.valid_minutes) == ("+254712345678", "042917", 10)
    assert _texts(event) == {
        "sms": "Your ecomms verification code is 042917. It expires in 10 minutes."
        " Do not share it with anyone."
    }


def test_the_code_stays_out_of_the_events_repr():
    event = event_read(Envelope.from_json(PHONE_VERIFICATION_EXAMPLE.read_bytes()))

    assert "042917" not in repr(event)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"code": 42917}, "code"),
        ({"code": "04291x"}, "code"),
        ({"code": ""}, "code"),
        ({"code": None}, "code"),
        ({"expires_at": "soon"}, "payload"),
        ({"expires_at": "2026-11-25T10:10:00"}, "UTC offset"),
    ],
)
def test_a_verification_it_cannot_use_is_malformed_and_the_code_is_not_in_the_error(
    changes, message
):
    envelope = _example(PHONE_VERIFICATION_EXAMPLE)
    envelope.data.update(changes)

    with pytest.raises(MalformedEvent, match=message) as error:
        event_read(envelope)
    assert "042917" not in str(error.value)


def test_a_verification_without_a_number_is_malformed():
    envelope = _example(PHONE_VERIFICATION_EXAMPLE)
    del envelope.data["phone"]

    with pytest.raises(MalformedEvent, match="phone"):
        event_read(envelope)
