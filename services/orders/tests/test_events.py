"""The events in the outbox have exactly the shape of the examples shipped in contracts/."""

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from ecomms_common.events import Envelope
from ecomms_common.outbox.models import OutboxMessage
from tests.conftest import BREAD_AND_ORANGES

pytestmark = pytest.mark.django_db

CONTRACTS = Path(__file__).resolve().parent.parent / "contracts"


def example(name: str) -> dict[str, Any]:
    return json.loads((CONTRACTS / f"{name}.v1.json").read_text())


def shape(value: Any) -> Any:
    """Return the keys and value types of a JSON value, recursively (lists by their items)."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(item) for item in value[:1]]
    return type(value).__name__


@pytest.fixture
def placed_event(api_client, catalog, customer, verify_phone) -> dict[str, Any]:
    headers = customer()
    api_client.patch("/customers/me/", {"full_name": "Wanjiru Kamau"}, format="json", **headers)
    verify_phone(headers, "+254712345678")
    response = api_client.post("/orders/", BREAD_AND_ORANGES, format="json", **headers)
    assert response.status_code == 201
    return OutboxMessage.objects.get(event_type="order.placed").envelope


def test_order_placed_has_exactly_the_example_shape(placed_event) -> None:
    assert shape(placed_event) == shape(example("order.placed"))


def test_order_placed_carries_money_as_two_decimal_strings(placed_event) -> None:
    data = placed_event["data"]
    assert data["total_amount"] == "10.97"
    assert [item["unit_price"] for item in data["items"]] == ["3.99", "2.99"]
    assert datetime.fromisoformat(data["placed_at"]).tzinfo is not None
    assert datetime.fromisoformat(placed_event["occurred_at"]).tzinfo is not None


def test_order_placed_reads_back_as_an_envelope(placed_event) -> None:
    envelope = Envelope.from_json(json.dumps(placed_event).encode())

    assert envelope.routing_key == "order.placed.v1"
    assert envelope.producer == "orders"


def test_order_placed_phone_is_null_when_none_is_set(api_client, catalog, customer) -> None:
    api_client.post("/orders/", BREAD_AND_ORANGES, format="json", **customer("nophone"))

    envelope = OutboxMessage.objects.get().envelope
    assert envelope["data"]["customer"]["phone"] is None
    envelope["data"]["customer"]["phone"] = "+254712345678"
    assert shape(envelope) == shape(example("order.placed"))


@pytest.mark.parametrize(
    ("path", "event_type"), [("cancel", "order.cancelled"), ("pay", "order.paid")]
)
def test_status_events_have_exactly_the_example_shape(
    api_client, placed_event, customer, admin, path, event_type
) -> None:
    headers = customer() if path == "cancel" else admin

    api_client.post(f"/orders/{placed_event['data']['order_id']}/{path}/", **headers)

    envelope = OutboxMessage.objects.get(event_type=event_type).envelope
    assert shape(envelope) == shape(example(event_type))
    assert envelope["data"]["changed_by"] == example(event_type)["data"]["changed_by"]


def test_phone_verification_requested_has_exactly_the_example_shape(api_client, customer) -> None:
    api_client.post(
        "/customers/me/phone/verification/", {"phone": "+254712345678"}, format="json", **customer()
    )

    envelope = OutboxMessage.objects.get().envelope
    assert envelope["event_type"] == "customer.phone_verification_requested"
    assert shape(envelope) == shape(example("customer.phone_verification_requested"))
    assert envelope["data"]["customer_id"] == "sub-wanjiru"
    assert envelope["data"]["phone"] == "+254712345678"
    assert len(envelope["data"]["code"]) == 6 and envelope["data"]["code"].isdigit()


def test_the_examples_are_valid_envelopes() -> None:
    for name in (
        "order.placed",
        "order.cancelled",
        "order.paid",
        "customer.phone_verification_requested",
    ):
        envelope = Envelope.from_json((CONTRACTS / f"{name}.v1.json").read_bytes())
        assert envelope.event_type == name
        assert envelope.event_version == 1
