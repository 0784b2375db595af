"""Run long-lived loops (relay, consumers) in threads inside a test, and wait on what they do."""

import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from ecomms_common.outbox.relay import OutboxRelay


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


def relay_killed_after_publish(
    command: list[str], *, queue: str, env: dict[str, str], cwd: str | None = None
) -> None:
    """Start a relay command, let it publish but not mark the row sent, then SIGKILL it.

    A SHARE lock on the outbox table lets the relay lock its rows and publish, but holds back its
    UPDATE (mark sent): the kill lands exactly between the two.
    """
    import psycopg
    from django.db import connection

    from ecomms_common.outbox.models import OutboxMessage
    from ecomms_common.testing.broker import queue_depth

    db = connection.settings_dict
    blocker = psycopg.connect(dbname=db["NAME"], user=db["USER"], host=db["HOST"], port=db["PORT"])
    blocker.execute(f"LOCK TABLE {OutboxMessage._meta.db_table} IN SHARE MODE")
    relay = subprocess.Popen(  # noqa: S603 - the test's own relay command
        command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for(lambda: queue_depth(queue) == 1, what="the publish")
        relay.send_signal(signal.SIGKILL)
        relay.wait(10)
    finally:
        relay.kill()
        blocker.rollback()
        blocker.close()
