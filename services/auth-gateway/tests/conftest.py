import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import oidc_provider_mock
import pytest
import requests
import werkzeug.serving
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.test import Client
from gateway.identity.keys import key_ring
from gateway.identity.oidc import forget_discovery
from gateway.identity.tokens import verified_tokens

from ecomms_standins.jwks import SigningKey, TokenMinter
from ecomms_standins.serving import ServerThread
from tests.edge import EdgeClient, EdgeServer
from tests.servers import HTTPStandIn, ScriptedProvider

pytest_plugins = ["ecomms_common.testing.pytest_plugin"]

CLIENT_ID = "ecomms-gateway-tests"


def private_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def signed_by_gateway(**claims) -> str:
    """Return an access token signed with the gateway's current key (``TokenMinter.mint``)."""
    ring = key_ring()
    key = SigningKey(kid=ring.signing_kid, private_key=ring.signing_key)
    return TokenMinter(issuer="http://127.0.0.1:8000", audience="ecomms", key=key).mint(**claims)


@pytest.fixture(scope="session")
def signing_pem() -> str:
    return private_pem()


@pytest.fixture(autouse=True)
def _gateway_settings(settings, signing_pem: str) -> Iterator[None]:
    settings.JWT_PRIVATE_KEY = signing_pem
    settings.JWT_PRIVATE_KEY_FILE = ""
    settings.JWT_PREVIOUS_KEY = ""
    settings.JWT_PREVIOUS_KEY_FILE = ""
    settings.RATE_LIMIT = settings.AUTH_RATE_LIMIT = "100000/m"
    # Counters in the local Redis, under a prefix no other test (or run) shares.
    settings.RATE_LIMIT_KEY_PREFIX = f"gateway-tests-{uuid.uuid4().hex}"
    # Never the shared local ports: a test that needs a service starts its own stand-in.
    settings.CATALOG_URL = settings.ORDERS_URL = "http://127.0.0.1:1"
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_RP_CLIENT_SECRET = "tests-secret"
    verified_tokens.clear()
    forget_discovery()
    yield
    forget_discovery()


@dataclass(frozen=True)
class LocalProvider:
    """oidc-provider-mock, a real OIDC provider, on 127.0.0.1."""

    url: str

    @property
    def discovery_url(self) -> str:
        return f"{self.url}/.well-known/openid-configuration"

    def set_claims(self, sub: str, **claims) -> None:
        response = requests.put(f"{self.url}/users/{sub}", json=claims, timeout=5)
        assert response.status_code == 204, response.text

    def approve(self, authorization_url: str, *, sub: str) -> str:
        """Log in as ``sub`` at the provider; return where it redirects the browser back to."""
        response = requests.post(
            authorization_url, data={"sub": sub}, allow_redirects=False, timeout=5
        )
        assert response.status_code == 302, response.text
        return response.headers["Location"]


@pytest.fixture(scope="session")
def local_provider() -> Iterator[LocalProvider]:
    server = werkzeug.serving.make_server(
        "127.0.0.1", 0, oidc_provider_mock.app(require_nonce=True), threaded=True
    )
    with ServerThread(server, poll_interval=0.1) as serving:
        yield LocalProvider(url=serving.url)


@pytest.fixture
def provider(settings, local_provider: LocalProvider) -> LocalProvider:
    """Point the gateway's login at the local provider (by its discovery URL)."""
    settings.OIDC_OP_DISCOVERY_URL = local_provider.discovery_url
    return local_provider


@pytest.fixture
def scripted_provider(settings) -> Iterator[ScriptedProvider]:
    """A provider whose ID tokens a test can spoil; configured by explicit endpoints."""
    scripted = ScriptedProvider(client_id=CLIENT_ID)
    settings.OIDC_OP_DISCOVERY_URL = ""
    settings.OIDC_OP_ISSUER = scripted.issuer
    settings.OIDC_OP_AUTHORIZATION_ENDPOINT = f"{scripted.url}/authorize"
    settings.OIDC_OP_TOKEN_ENDPOINT = f"{scripted.url}/token"
    settings.OIDC_OP_USER_ENDPOINT = f"{scripted.url}/userinfo"
    settings.OIDC_OP_JWKS_ENDPOINT = f"{scripted.url}/jwks"
    yield scripted
    scripted.close()


def start_login(client: Client, **params) -> str:
    """Open /oidc/authenticate/ in the browser; return the provider URL it redirects to."""
    response = client.get("/oidc/authenticate/", params)
    assert response.status_code == 302, response.content
    return response["Location"]


def finish_login(client: Client, callback_url: str):
    """Follow the provider's redirect back to the gateway's callback."""
    parts = urlsplit(callback_url)
    assert parts.path == "/oidc/callback/"
    return client.get(f"{parts.path}?{parts.query}")


@pytest.fixture
def login(provider: LocalProvider):
    """Log a browser (a Django test client) in through the local provider as ``sub``."""

    def log_in(client: Client, sub: str, **claims):
        if claims:
            provider.set_claims(sub, **claims)
        return finish_login(client, provider.approve(start_login(client), sub=sub))

    return log_in


@pytest.fixture(scope="session")
def edge_server() -> Iterator[EdgeServer]:
    """The gateway's real server (config.asgi under uvicorn, the edge's protocol)."""
    server = EdgeServer()
    yield server
    server.stop()


@pytest.fixture
def gateway(client: Client, edge_server: EdgeServer) -> EdgeClient:
    """A test client: proxied paths through the edge server, the gateway's own through Django."""
    return EdgeClient(edge_server, client)


@pytest.fixture
def catalog(settings) -> Iterator[HTTPStandIn]:
    server = HTTPStandIn()
    settings.CATALOG_URL = server.url
    yield server
    server.close()


@pytest.fixture
def orders(settings) -> Iterator[HTTPStandIn]:
    server = HTTPStandIn()
    settings.ORDERS_URL = server.url
    yield server
    server.close()


@pytest.fixture
def make_user(db):
    """Return a factory of gateway users, as a first login would create them."""
    from gateway.services import user_link_from_claims

    counter = iter(range(1, 1_000_000))

    def make(**claims):
        number = next(counter)
        claims = {
            "sub": f"subject-{number}",
            "email": f"user{number}@example.com",
            "email_verified": True,
            "name": f"User {number}",
            **claims,
        }
        return user_link_from_claims(claims=claims)

    return make


@pytest.fixture
def token_pair(make_user):
    """Return a factory: a fresh access/refresh pair for a new (or given) user."""
    from gateway.services import token_pair_issue

    def issue(user=None, **claims):
        return token_pair_issue(user=user or make_user(**claims))

    return issue
