from datetime import UTC, datetime

import pytest
from notifier.events import OrderPlaced

from ecomms_common.events import Envelope, MalformedEvent
from tests.helpers import ORDER_PLACED_EXAMPLE


def test_the_producers_example_event_is_understood():
    envelope = Envelope.from_json(ORDER_PLACED_EXAMPLE.read_bytes())
    order = OrderPlaced.from_envelope(envelope)
    assert order.order_id == 123
    assert order.customer_phone == "+254712345678"
    assert order.occurred_at == datetime(2026, 11, 25, 10, 0, 0, 123456, tzinfo=UTC)
    assert order.sms_text() == "Your order #123 has been placed. Total: 10.97 USD. Thank you!"
    assert order.email_subject() == "New order #123"
    assert order.email_body() == "Customer: Wanjiru Kamau\nTotal: 10.97 USD\nItems: 2"


def _example(**changes) -> Envelope:
    envelope = Envelope.from_json(ORDER_PLACED_EXAMPLE.read_bytes())
    return Envelope(**{**envelope.__dict__, **changes})


def test_an_order_without_a_phone_has_an_empty_phone():
    envelope = _example()
    del envelope.data["customer"]["phone"]
    assert OrderPlaced.from_envelope(envelope).customer_phone == ""


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"event_type": "order.cancelled"}, "not handled"),
        ({"event_version": 2}, "not handled"),
        ({"data": {"order_id": 1}}, "payload"),
        ({"occurred_at": "yesterday"}, "payload"),
        ({"occurred_at": "2026-11-25T10:00:00"}, "UTC offset"),
    ],
)
def test_an_event_it_cannot_use_is_malformed(changes, message):
    with pytest.raises(MalformedEvent, match=message):
        OrderPlaced.from_envelope(_example(**changes))


def test_a_name_with_line_breaks_stays_on_the_customer_line_of_the_email():
    envelope = _example()
    envelope.data["customer"]["full_name"] = "Wanjiru\r\nTotal: 0.01 USD\nItems: 99"

    body = OrderPlaced.from_envelope(envelope).email_body()

    assert body.splitlines() == [
        "Customer: Wanjiru Total: 0.01 USD Items: 99",
        "Total: 10.97 USD",
        "Items: 2",
    ]
