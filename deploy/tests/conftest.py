"""Fixtures of the deployment checks: throwaway PostgreSQL databases and RabbitMQ names."""

import os
import uuid

import pika
import psycopg
import pytest

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
