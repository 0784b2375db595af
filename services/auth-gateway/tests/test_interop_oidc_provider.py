"""The gateway against standard implementations: panva's oidc-provider and panva's jose.

oidc-provider (OpenID Certified, tests/interop/provider.mjs) runs as a real Node process: PKCE
required, only ``client_secret_basic`` at its token endpoint (its discovery document says so),
its signing keys rotated, its clock skewed. jose (tests/interop/verify.mjs) verifies the
gateway's tokens as a third party would. ``tests/interop/install`` installs both (scripts/test
runs it); node 20 or later must be on the PATH.
"""

import json
import os
import re
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from gateway.models import User

from ecomms_standins.jwks import TokenMinter
from tests.conftest import CLIENT_ID, finish_login, start_login

pytestmark = pytest.mark.django_db

INTEROP = Path(__file__).resolve().parents[3] / "tests" / "interop"
REDIRECT_URI = "http://testserver/oidc/callback/"  # the test client's host


def private_jwk(kid: str) -> dict:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return {**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key)), "kid": kid, "alg": "RS256"}


@dataclass
class NodeProvider:
    """One oidc-provider process; ``approve`` logs a subject in through its own pages."""

    url: str
    process: subprocess.Popen

    @property
    def discovery_url(self) -> str:
        return f"{self.url}/.well-known/openid-configuration"

    def approve(self, authorization_url: str, *, sub: str) -> str:
        """Sign in as ``sub`` and consent; return the redirect back to the gateway."""
        session = requests.Session()
        url = authorization_url
        for _ in range(12):
            response = session.get(url, allow_redirects=False, timeout=10)
            if response.status_code == 200:  # a login or consent page: submit its form
                prompt = re.search(r'name="prompt" value="(\w+)"', response.text)
                assert prompt, response.text
                form = {"prompt": prompt.group(1), "login": sub, "password": "any"}
                response = session.post(url, data=form, allow_redirects=False, timeout=10)
            assert response.status_code in (302, 303), response.text
            url = urljoin(url, response.headers["Location"])
            if url.startswith(REDIRECT_URI):
                return url
        raise AssertionError(f"the provider never sent the browser back: {url}")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


@pytest.fixture
def node_provider(settings) -> Iterator[Callable[..., NodeProvider]]:
    """Start oidc-provider processes (``keys``: private JWKs, the first signs; ``skew``: s).

    ``port`` 0 is any free port; a provider restarted on the same port is the same issuer.
    """
    if not (INTEROP / "node_modules" / "oidc-provider").is_dir():
        pytest.fail("tests/interop is not installed: run tests/interop/install")
    started: list[NodeProvider] = []

    def start(*, keys: list[dict] | None = None, skew: int = 0, port: int = 0) -> NodeProvider:
        keys = keys or [private_jwk("first")]
        env = {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "PORT": str(port),
            "CLIENT_ID": CLIENT_ID,
            "CLIENT_SECRET": settings.OIDC_RP_CLIENT_SECRET,
            "REDIRECT_URI": REDIRECT_URI,
            "PROVIDER_JWKS": json.dumps({"keys": keys}),
            "CLOCK_SKEW_SECONDS": str(skew),
        }
        process = subprocess.Popen(
            ["node", "provider.mjs"],
            cwd=INTEROP,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        line = process.stdout.readline()
        assert line.startswith("listening "), f"oidc-provider did not start: {line!r}"
        provider = NodeProvider(url=line.split()[1], process=process)
        started.append(provider)
        settings.OIDC_OP_DISCOVERY_URL = provider.discovery_url
        settings.OIDC_RP_SCOPES = "openid email profile"
        return provider

    yield start
    for provider in started:
        provider.stop()


def log_in(client, provider: NodeProvider, sub: str):
    authorization_url = start_login(client)
    query = parse_qs(urlsplit(authorization_url).query)
    assert query["code_challenge_method"] == ["S256"]
    return finish_login(client, provider.approve(authorization_url, sub=sub))


def test_login_with_pkce_and_client_secret_basic_from_discovery(client, node_provider) -> None:
    provider = node_provider()
    response = log_in(client, provider, "ada")
    assert response.status_code == 302, response.content
    assert response["Location"] == "/auth/token/"
    user = User.objects.get(oidc_sub="ada")
    assert (user.oidc_issuer, user.email, user.email_verified) == (
        provider.url,
        "ada@example.com",
        True,
    )


def test_a_client_secret_post_refused_by_the_provider_says_why(
    client, node_provider, settings
) -> None:
    provider = node_provider()
    settings.OIDC_TOKEN_ENDPOINT_AUTH_METHOD = "client_secret_post"
    authorization_url = start_login(client)
    callback = urlsplit(provider.approve(authorization_url, sub="bob"))
    response = client.get(f"{callback.path}?{callback.query}", HTTP_ACCEPT="application/json")
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "code_exchange_failed"
    assert "invalid_client" in error["message"]
    assert settings.OIDC_RP_CLIENT_SECRET not in error["message"]
    assert not User.objects.exists()


def test_logins_go_on_through_a_rotation_of_the_providers_keys(client, node_provider) -> None:
    old, new = private_jwk("old"), private_jwk("new")
    before = node_provider(keys=[old])
    assert log_in(client, before, "cy")["Location"] == "/auth/token/"
    before.stop()
    client.logout()
    # The same issuer now signs with a new key (its kid unseen so far), and still publishes the old.
    after = node_provider(keys=[new, old], port=urlsplit(before.url).port)
    assert log_in(client, after, "cy")["Location"] == "/auth/token/"
    assert User.objects.filter(oidc_sub="cy").count() == 1


@pytest.mark.parametrize("skew", [30, -30])
def test_logins_succeed_with_the_providers_clock_half_a_minute_off(
    client, node_provider, skew
) -> None:
    provider = node_provider(skew=skew)
    response = log_in(client, provider, f"skewed{skew}")
    assert response["Location"] == "/auth/token/", response.content


def test_an_id_token_issued_ten_minutes_in_the_future_is_refused(client, node_provider) -> None:
    provider = node_provider(skew=600)
    response = log_in(client, provider, "future")
    assert response.status_code == 401
    assert b"<code>id_token_invalid</code>" in response.content
    assert not User.objects.exists()


def jose_verify(token: str, *, jwks_url: str, issuer: str, audience: str) -> tuple[bool, str]:
    """Verify ``token`` with panva's jose requiring typ at+jwt; return (accepted, its output)."""
    result = subprocess.run(
        ["node", "verify.mjs", token, jwks_url, issuer, audience, "at+jwt"],
        cwd=INTEROP,
        capture_output=True,
        text=True,
        timeout=30,
    )
    return result.returncode == 0, result.stdout + result.stderr


def test_jose_accepts_the_access_token_and_refuses_the_refresh_token(
    client, node_provider, live_server, settings, local_jwks
) -> None:
    settings.JWT_ISSUER = live_server.url
    provider = node_provider()
    log_in(client, provider, "dee")
    pair = client.get("/auth/token/", HTTP_ACCEPT="application/json").json()
    # The JWKS the metadata names, as a third party would find it.
    metadata = requests.get(
        f"{live_server.url}/.well-known/oauth-authorization-server", timeout=10
    ).json()
    check = {"jwks_url": metadata["jwks_uri"], "issuer": metadata["issuer"], "audience": "ecomms"}
    accepted, output = jose_verify(pair["access"], **check)
    assert accepted, output
    claims = json.loads(output)
    assert claims["sub"] == str(User.objects.get(oidc_sub="dee").public_id)
    assert (claims["client_id"], claims["scope"]) == ("ecomms-gateway", "api")
    refused, output = jose_verify(pair["refresh"], **check)
    assert not refused
    assert "typ" in output  # jose: unexpected "typ" JWT header value
    # Nor does a token of another kind, signed by the same keys, pass for an access token.
    gateway_key = TokenMinter(issuer=metadata["issuer"], audience="ecomms", key=local_jwks.current)
    stranger, _ = jose_verify(gateway_key.mint(), **check)
    assert not stranger
