"""Builders and running parts for the notifier's tests."""

import copy
import json
import os
import random
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from notifier.models import Delivery, InboxEvent
from notifier.worker import NotifierWorker

from ecomms_common.events import Envelope
from ecomms_common.outbox.services import outbox_enqueue
from ecomms_common.testing.broker import TOPOLOGY_SETTINGS
from ecomms_common.testing.running import running, wait_for

SERVICE_DIR = Path(__file__).resolve().parent.parent
# The notifier's own queue names (the exchanges' are in TOPOLOGY_SETTINGS).
QUEUE_SETTINGS = ("NOTIFIER_QUEUE", "NOTIFIER_DEAD_LETTER_QUEUE")
# The producer's example payloads, as committed by the orders service.
CONTRACTS = SERVICE_DIR.parent / "orders" / "contracts"
ORDER_PLACED_EXAMPLE = CONTRACTS / "order.placed.v1.json"
ORDER_CANCELLED_EXAMPLE = CONTRACTS / "order.cancelled.v1.json"
ORDER_PAID_EXAMPLE = CONTRACTS / "order.paid.v1.json"
PHONE_VERIFICATION_EXAMPLE = CONTRACTS / "customer.phone_verification_requested.v1.json"


def example_envelope(path: Path = ORDER_PLACED_EXAMPLE) -> dict:
    return json.loads(path.read_text())


def order_placed(
    *,
    phone: str | None = "fresh",
    order_id: int | None = None,
    example: Path = ORDER_PLACED_EXAMPLE,
) -> Envelope:
    """Return the producer's example event with fresh ids (and a phone of its own)."""
    raw = example_envelope(example)
    data = copy.deepcopy(raw["data"])
    data["order_id"] = order_id or random.randint(1_000, 10**9)
    if phone == "fresh":
        data["customer"]["phone"] = f"+2547{random.randint(10**7, 10**8 - 1)}"
    else:
        data["customer"]["phone"] = phone
    return Envelope(
        event_type=raw["event_type"],
        event_version=raw["event_version"],
        producer=raw["producer"],
        data=data,
    )


def order_cancelled(**kwargs) -> Envelope:
    """Return the producer's example ``order.cancelled`` event with fresh ids."""
    return order_placed(example=ORDER_CANCELLED_EXAMPLE, **kwargs)


def order_paid(**kwargs) -> Envelope:
    """Return the producer's example ``order.paid`` event with fresh ids."""
    return order_placed(example=ORDER_PAID_EXAMPLE, **kwargs)


def phone_verification(
    *, phone: str | None = None, code: str | None = None, valid_seconds: float = 600
) -> Envelope:
    """Return the producer's example verification event, fresh: a new id, number and code,
    occurring now and valid for ``valid_seconds`` (negative: expired already)."""
    raw = example_envelope(PHONE_VERIFICATION_EXAMPLE)
    now = datetime.now(UTC)
    data = {
        **raw["data"],
        "verification_id": str(uuid.uuid4()),
        "phone": phone or f"+2547{random.randint(10**7, 10**8 - 1)}",
        "code": code or f"{random.randint(0, 999_999):06d}",
        "expires_at": (now + timedelta(seconds=valid_seconds)).isoformat(),
    }
    return Envelope(
        event_type=raw["event_type"],
        event_version=raw["event_version"],
        producer=raw["producer"],
        data=data,
        occurred_at=now.isoformat(),
    )


def commit_event(envelope: Envelope) -> Envelope:
    """Commit an event through the outbox, as the orders service does."""
    with transaction.atomic():
        outbox_enqueue(envelope=envelope)
    return envelope


def place_order(**kwargs) -> Envelope:
    """Commit an order's ``order.placed`` event through the outbox, as the orders service does."""
    return commit_event(order_placed(**kwargs))


@contextmanager
def running_notifier(**kwargs) -> Iterator[NotifierWorker]:
    worker = NotifierWorker(**kwargs)
    with running(worker.run, worker.stop, "notifier"):
        wait_for(worker.consumer.connected.is_set, what="the consumer to connect")
        yield worker


def command_env(**extra: str) -> dict[str, str]:
    """Return the environment of a management command run against this test's database."""
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "AMQP_URL": settings.AMQP_URL,
        "AFRICASTALKING_BASE_URL": settings.AFRICASTALKING_BASE_URL,
        "EMAIL_HOST": settings.EMAIL_HOST,
        "EMAIL_PORT": str(settings.EMAIL_PORT),
        "ADMIN_EMAIL": settings.ADMIN_EMAIL,
        "NOTIFIER_RETRY_BASE_SECONDS": str(settings.NOTIFIER_RETRY_BASE_SECONDS),
        "NOTIFIER_RETRY_POLL_SECONDS": str(settings.NOTIFIER_RETRY_POLL_SECONDS),
        "HOST": "127.0.0.1",
        "PORT": "0",
    }
    env.update({name: getattr(settings, name) for name in (*TOPOLOGY_SETTINGS, *QUEUE_SETTINGS)})
    env.update(extra)
    return env


def new_event_id() -> str:
    return str(uuid.uuid4())


def settled(count: int) -> Callable[[], bool]:
    """Return a condition: ``count`` events in, none of their deliveries waiting or being sent."""
    return lambda: (
        InboxEvent.objects.count() == count
        and not Delivery.objects.filter(
            status__in=[Delivery.Status.PENDING, Delivery.Status.SENDING]
        ).exists()
    )
