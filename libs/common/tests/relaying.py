"""Helpers for the relay and consumer tests."""

import os
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction

from ecomms_common.events import Envelope
from ecomms_common.outbox.services import outbox_enqueue
from ecomms_common.testing.broker import TOPOLOGY_SETTINGS


def place(n: int = 1, *, event_type: str = "order.placed") -> list[Envelope]:
    """Commit ``n`` events through the outbox, one transaction each, as a producer does."""
    envelopes = []
    for index in range(n):
        envelope = Envelope(
            event_type=event_type, event_version=1, producer="tests", data={"index": index}
        )
        with transaction.atomic():
            outbox_enqueue(envelope=envelope)
        envelopes.append(envelope)
    return envelopes


def subprocess_env(**extra: str) -> dict[str, str]:
    """Return the environment of a management command run against this test's database."""
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
        "AMQP_URL": settings.AMQP_URL,
        "LOG_LEVEL": "INFO",
    }
    env.update({name: getattr(settings, name) for name in TOPOLOGY_SETTINGS})
    env.update(extra)
    return env
