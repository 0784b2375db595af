import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from orders.clients.catalog import reset_catalog_client

from ecomms_standins.catalog import CatalogServer, CatalogStandIn
from ecomms_standins.jwks import LocalJWKS

pytest_plugins = ["ecomms_common.testing.pytest_plugin"]


@pytest.fixture
def catalog(settings) -> Iterator[CatalogStandIn]:
    """A catalog stand-in knowing two products, with short timeouts and a fresh breaker."""
    app = CatalogStandIn()
    app.add(10, "Whole Wheat Bread", "3.99")
    app.add(15, "Oranges (1 kg)", "2.99")
    app.add(20, "Rice (5 kg)", "0.10")
    app.add(30, "Kenyan Tea", "250.00", currency="KES")
    server = CatalogServer(app)
    settings.CATALOG_URL = server.url
    settings.CATALOG_CONNECT_TIMEOUT_SECONDS = 0.5
    settings.CATALOG_READ_TIMEOUT_SECONDS = 0.5
    settings.CATALOG_RETRIES = 2
    settings.CATALOG_BACKOFF_FACTOR = 0.01
    settings.CATALOG_BACKOFF_JITTER = 0.01
    settings.CATALOG_BREAKER_FAIL_MAX = 5
    settings.CATALOG_BREAKER_RESET_SECONDS = 30
    reset_catalog_client()
    yield app
    reset_catalog_client()
    server.close()


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def customer(local_jwks: LocalJWKS) -> Callable[..., dict[str, str]]:
    """Return headers of a customer: ``customer("alice")`` is always the same customer."""

    def make(who: str = "wanjiru", **claims: Any) -> dict[str, str]:
        token = local_jwks.mint(
            roles=["customer"],
            sub=f"sub-{who}",
            email=claims.pop("email", f"{who}@example.com"),
            name=claims.pop("name", who.title()),
            **claims,
        )
        return {"HTTP_AUTHORIZATION": f"Bearer {token}"}

    return make


@pytest.fixture
def admin(local_jwks: LocalJWKS) -> dict[str, str]:
    token = local_jwks.mint(roles=["admin"], sub="sub-admin", email="admin@example.com")
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


BREAD_AND_ORANGES = {
    "items": [{"product_id": 10, "quantity": 2}, {"product_id": 15, "quantity": 1}],
    "currency": "USD",
}


VERIFICATION_EVENT = "customer.phone_verification_requested"


def sent_code(phone: str) -> str:
    """Return the code last sent to ``phone``: read from its event in the outbox, the only place
    the code leaves orders (the notifier texts it from there)."""
    from ecomms_common.outbox.models import OutboxMessage

    envelopes = [
        message.envelope
        for message in OutboxMessage.objects.filter(event_type=VERIFICATION_EVENT).order_by("id")
    ]
    return [envelope for envelope in envelopes if envelope["data"]["phone"] == phone][-1]["data"][
        "code"
    ]


@pytest.fixture
def verify_phone(api_client) -> Callable[..., dict[str, Any]]:
    """Return a function that sends a code to a number and confirms it, as the customer whose
    headers it is given would; it returns the customer as the confirmation answered it."""

    def verify(headers: dict[str, str], phone: str = "+254712345678") -> dict[str, Any]:
        started = api_client.post(
            "/customers/me/phone/verification/", {"phone": phone}, format="json", **headers
        )
        assert started.status_code == 202, started.content
        confirmed = api_client.post(
            "/customers/me/phone/verification/confirm/",
            {"code": sent_code(started.json()["phone"])},
            format="json",
            **headers,
        )
        assert confirmed.status_code == 200, confirmed.content
        return confirmed.json()

    return verify
