"""The shared table of bad access tokens, run through both of the gateway's bearer checks."""

import pytest
from gateway.identity.keys import key_ring

from ecomms_common.testing import BAD_ACCESS_TOKENS
from ecomms_standins.jwks import SigningKey, TokenMinter

pytestmark = pytest.mark.django_db

BAD = pytest.mark.parametrize(
    "build", [build for _, build in BAD_ACCESS_TOKENS], ids=[name for name, _ in BAD_ACCESS_TOKENS]
)


@pytest.fixture
def minter(settings) -> TokenMinter:
    """Mint tokens as the gateway would: its issuer, audience and current signing key."""
    ring = key_ring()
    return TokenMinter(
        issuer=settings.JWT_ISSUER,
        audience=settings.JWT_AUDIENCE,
        key=SigningKey(kid=ring.signing_kid, private_key=ring.signing_key),
    )


def _refused(response) -> None:
    assert response.status_code == 401, response.content
    assert response["WWW-Authenticate"] == 'Bearer realm="ecomms"'
    # The schema view renders its error in the schema's media type, so look for the code itself.
    assert b"invalid_token" in response.content or b"token_expired" in response.content


@BAD
def test_the_proxy_refuses_every_bad_token_before_proxying(gateway, orders, minter, build) -> None:
    response = gateway.get("/orders/", HTTP_AUTHORIZATION=f"Bearer {build(minter)}")
    _refused(response)
    assert response["X-Content-Type-Options"] == "nosniff"
    assert orders.received == []


@BAD
def test_the_gateways_own_views_refuse_every_bad_token(client, minter, build) -> None:
    _refused(client.get("/schema/", HTTP_AUTHORIZATION=f"Bearer {build(minter)}"))


def test_good_tokens_pass_both_checks(gateway, orders, minter, token_pair) -> None:
    for token in (minter.mint(), token_pair().access):
        assert gateway.get("/orders/", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200
        assert gateway.get("/schema/", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200
    assert [call.path for call in orders.received].count("/orders/") == 2
