"""Pytest fixtures for services: ``pytest_plugins = ["ecomms_common.testing.pytest_plugin"]``.

Every test verifies tokens against a session-wide :class:`LocalJWKS`; ``bearer`` mints a header
for any roles. The tests run against the PostgreSQL that ``DATABASE_URL`` names;
``database_proxy`` puts a cuttable TCP proxy between the test's own database connection and it.
"""

import logging
from collections.abc import Callable, Iterator

import pytest
from django.db import connection
from rest_framework.test import APIClient

from ecomms_standins.jwks import LocalJWKS
from ecomms_standins.tcpproxy import TcpProxy


@pytest.fixture(scope="session")
def local_jwks() -> Iterator[LocalJWKS]:
    jwks = LocalJWKS()
    yield jwks
    jwks.close()


@pytest.fixture(autouse=True)
def _verify_tokens_with_local_jwks(settings, local_jwks: LocalJWKS) -> Iterator[None]:
    from ecomms_common.auth import reset_jwks_cache

    settings.AUTH_JWKS_URL = local_jwks.url
    settings.AUTH_ISSUER = local_jwks.issuer
    settings.AUTH_AUDIENCE = local_jwks.audience
    reset_jwks_cache()
    yield
    reset_jwks_cache()


@pytest.fixture
def spans(monkeypatch):
    """Tracing on in this process, its spans kept in memory; off again afterwards.

    Yields the ``InMemorySpanExporter`` (``spans.get_finished_spans()``); the provider the spans
    go to is ``ecomms_common.tracing._provider`` for the test's duration.
    """
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from ecomms_common import tracing

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(tracing, "_enabled", False)
    monkeypatch.setattr(tracing, "_provider", None)
    factory = logging.getLogRecordFactory()
    tracing.tracing_use(provider)
    yield exporter
    logging.setLogRecordFactory(factory)


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def bearer(local_jwks: LocalJWKS) -> Callable[..., dict[str, str]]:
    """Return a factory of ``Authorization`` headers: ``bearer(roles=["admin"])``."""

    def make(**claims) -> dict[str, str]:
        return {"HTTP_AUTHORIZATION": f"Bearer {local_jwks.mint(**claims)}"}

    return make


@pytest.fixture
def event_topology(settings) -> Iterator[dict[str, str]]:
    """Point every event setting at RabbitMQ names unique to this test; delete them afterwards."""
    from ecomms_common.testing.broker import delete_topology, unique_topology_names

    names = unique_topology_names()
    for name, value in names.items():
        setattr(settings, name, value)
    yield names
    delete_topology()


@pytest.fixture
def database_proxy() -> Iterator[TcpProxy]:
    """Send the test thread's database connection (the one views under test use) through a
    :class:`TcpProxy`, so that a test can cut the database away. Use with
    ``django_db(transaction=True)``: the connection is closed and opened again."""
    connection.close()
    original = {name: connection.settings_dict[name] for name in ("HOST", "PORT")}
    with TcpProxy(original["HOST"] or "127.0.0.1", int(original["PORT"] or 5432)) as proxy:
        connection.settings_dict.update(HOST="127.0.0.1", PORT=str(proxy.port))
        try:
            yield proxy
        finally:
            connection.close()
            connection.settings_dict.update(original)
