"""Run long-lived loops (relay, consumers) in threads inside a test, and wait on what they do."""

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from ecomms_common.relay import OutboxRelay


def wait_for(condition: Callable[[], object], *, timeout: float = 20.0, what: str = "") -> object:
    """Poll ``condition`` until it is truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what or condition}")


@contextmanager
def running(target: Callable[[], None], stop: threading.Event, name: str) -> Iterator[None]:
    """Run ``target`` in a thread for the block; then set ``stop`` and insist that it ends."""
    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(30)
        assert not thread.is_alive(), f"{name} did not stop"


@contextmanager
def running_relay(**kwargs) -> Iterator[OutboxRelay]:
    """Run an outbox relay (``OutboxRelay(**kwargs)``) in a thread for the block."""
    relay = OutboxRelay(**kwargs)
    with running(relay.run, relay.stop, "relay"):
        yield relay
