"""Fixtures of the deployment checks: throwaway PostgreSQL databases and servers, RabbitMQ names."""

import contextlib
import os
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pika
import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVER = os.environ.get("TEST_DATABASE_SERVER", "postgres://postgres@127.0.0.1:5432")
AMQP_URL = os.environ.get("TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")


@pytest.fixture
def throwaway_database():
    """A uniquely named PostgreSQL database, dropped afterwards; yields its URL."""
    name = f"deploy_check{os.environ.get('TEST_DB_SUFFIX', '')}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{SERVER}/{name}"
    finally:
        with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def amqp_names():
    """Exchange and queue names unique to this test, deleted from RabbitMQ afterwards."""
    tag = uuid.uuid4().hex[:10]
    names = {
        "EVENTS_EXCHANGE": f"deploy-check.{tag}.events",
        "DEAD_LETTER_EXCHANGE": f"deploy-check.{tag}.dlx",
        "NOTIFIER_QUEUE": f"deploy-check.{tag}.order-events",
        "NOTIFIER_DEAD_LETTER_QUEUE": f"deploy-check.{tag}.order-events.dlq",
    }
    yield names
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    try:
        channel = connection.channel()
        for queue in (names["NOTIFIER_QUEUE"], names["NOTIFIER_DEAD_LETTER_QUEUE"]):
            channel.queue_delete(queue)
        for exchange in (names["EVENTS_EXCHANGE"], names["DEAD_LETTER_EXCHANGE"]):
            channel.exchange_delete(exchange)
    finally:
        connection.close()


def local_postgres(*args: str) -> str:
    """Run scripts/local-postgres (the embedded server of make up); return what it prints."""
    result = subprocess.run(
        [ROOT / "scripts" / "local-postgres", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def free_port() -> int:
    """A port of 127.0.0.1 that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def started_server(*options: str) -> Iterator[str]:
    """A throwaway embedded PostgreSQL on a free port of 127.0.0.1, ``options`` added to
    ``scripts/local-postgres start`` (e.g. ``--set``); yields its superuser URL (postgres,
    trusted), and stops and removes it afterwards."""
    data = ROOT / "var" / f"postgres-deploy-check-{uuid.uuid4().hex[:8]}"
    url = local_postgres(
        "start", "--data", str(data), "--port", str(free_port()), "--throwaway", *options
    )
    try:
        yield url
    finally:
        local_postgres("stop", "--data", str(data), "--delete")


@pytest.fixture
def embedded_server() -> Iterator[str]:
    """A throwaway embedded PostgreSQL of this test alone (:func:`started_server`)."""
    with started_server() as url:
        yield url
