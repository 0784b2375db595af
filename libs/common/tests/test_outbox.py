import uuid

import pytest
from django.db import transaction

from ecomms_common.correlation import bind_request_id
from ecomms_common.events import Envelope
from ecomms_common.outbox.models import OutboxMessage
from ecomms_common.outbox.services import OutboxOutsideTransaction, outbox_enqueue


def _envelope() -> Envelope:
    return Envelope(
        event_type="thing.happened", event_version=2, producer="tests", data={"thing_id": 7}
    )


@pytest.mark.django_db(transaction=True)
def test_an_event_commits_with_its_transaction():
    envelope = _envelope()
    with bind_request_id("0b6f5f4e-9c51-4d0b-8f7c-2d9a1c3e4f50"), transaction.atomic():
        outbox_enqueue(envelope=envelope)
    row = OutboxMessage.objects.get()
    assert row.event_id == uuid.UUID(envelope.event_id)
    assert row.routing_key == "thing.happened.v2"
    assert row.envelope == Envelope.from_json(envelope.to_json()).__dict__
    assert row.correlation_id == envelope.correlation_id
    assert row.published_at is None
    assert str(row) == f"thing.happened.v2 {envelope.event_id}"


@pytest.mark.django_db(transaction=True)
def test_an_event_rolls_back_with_its_transaction():
    with pytest.raises(RuntimeError, match="business change failed"), transaction.atomic():
        outbox_enqueue(envelope=_envelope())
        raise RuntimeError("business change failed")
    assert not OutboxMessage.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_an_event_outside_a_transaction_is_refused():
    with pytest.raises(OutboxOutsideTransaction):
        outbox_enqueue(envelope=_envelope())
    assert not OutboxMessage.objects.exists()
