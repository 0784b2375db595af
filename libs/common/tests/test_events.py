import json
import uuid
from datetime import datetime

import pytest

from ecomms_common.correlation import bind_request_id
from ecomms_common.events import Envelope, MalformedEvent


def _envelope(**overrides):
    return Envelope(
        event_type="order.placed", event_version=1, producer="orders", data={"n": 1}, **overrides
    )


def test_envelope_round_trips_through_json():
    envelope = _envelope()
    assert Envelope.from_json(envelope.to_json()) == envelope


def test_envelope_fields_follow_the_contract():
    raw = json.loads(_envelope().to_json())
    assert set(raw) == {
        "event_id",
        "event_type",
        "event_version",
        "occurred_at",
        "producer",
        "correlation_id",
        "data",
    }
    assert uuid.UUID(raw["event_id"])
    assert datetime.fromisoformat(raw["occurred_at"]).tzinfo is not None


def test_routing_key_carries_the_version():
    assert _envelope().routing_key == "order.placed.v1"


def test_envelope_carries_the_current_request_id():
    with bind_request_id("3f1c2d7e-1111-4222-8333-444455556666"):
        assert _envelope().correlation_id == "3f1c2d7e-1111-4222-8333-444455556666"


def test_envelope_outside_a_request_gets_a_fresh_correlation_id():
    first, second = _envelope(), _envelope()
    assert uuid.UUID(first.correlation_id)
    assert first.correlation_id != second.correlation_id


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[1, 2]", "JSON object"),
        (b'{"event_type": "x"}', "missing fields: event_id"),
    ],
)
def test_malformed_bodies_are_rejected_with_a_reason(body, reason):
    with pytest.raises(MalformedEvent, match=reason):
        Envelope.from_json(body)


def test_a_non_integer_version_or_non_object_data_is_rejected():
    raw = json.loads(_envelope().to_json())
    with pytest.raises(MalformedEvent, match="event_version"):
        Envelope.from_json(json.dumps({**raw, "event_version": "1"}).encode())
    with pytest.raises(MalformedEvent, match="data"):
        Envelope.from_json(json.dumps({**raw, "data": [1]}).encode())
