"""Helpers for the relay and consumer tests."""

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction

from ecomms_common.events import Envelope
from ecomms_common.outbox.services import outbox_enqueue
from ecomms_common.relay import OutboxRelay
from ecomms_common.testing.broker import TOPOLOGY_SETTINGS


def wait_for(condition: Callable[[], object], *, timeout: float = 20.0, what: str = "") -> object:
    """Poll ``condition`` until it is truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what or condition}")


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


@contextmanager
def running_relay(**kwargs) -> Iterator[OutboxRelay]:
    stop = threading.Event()
    relay = OutboxRelay(stop=stop, **kwargs)
    thread = threading.Thread(target=relay.run, name="relay", daemon=True)
    thread.start()
    try:
        yield relay
    finally:
        stop.set()
        thread.join(15)
        assert not thread.is_alive(), "the relay did not stop"


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
