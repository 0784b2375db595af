"""The gateway's RFC 8414 metadata, and a service configured from the issuer alone."""

from urllib.parse import urlsplit

import pytest

from ecomms_common.auth import reset_jwks_cache, verify_access_token

pytestmark = pytest.mark.django_db


def test_the_metadata_names_the_issuer_its_keys_and_token_endpoints(client, settings) -> None:
    settings.JWT_ISSUER = "https://api.ecomms.example"
    response = client.get("/.well-known/oauth-authorization-server")
    assert response.status_code == 200
    metadata = response.json()
    assert metadata["issuer"] == "https://api.ecomms.example"
    assert metadata["jwks_uri"] == "https://api.ecomms.example/.well-known/jwks.json"
    assert metadata["token_endpoint"] == "https://api.ecomms.example/auth/token/"
    assert metadata["token_refresh_endpoint"] == "https://api.ecomms.example/auth/token/refresh/"
    assert metadata["authorization_endpoint"] == "https://api.ecomms.example/oidc/authenticate/"
    assert metadata["access_token_signing_alg_values_supported"] == ["RS256"]
    assert (metadata["access_token_typ"], metadata["access_token_audience"]) == ("at+jwt", "ecomms")
    # Its jwks_uri serves the keys, and OpenID Connect's discovery path the same document.
    keys = client.get(urlsplit(metadata["jwks_uri"]).path).json()["keys"]
    assert [key["alg"] for key in keys] == ["RS256"]
    assert client.get("/.well-known/openid-configuration").json() == metadata


def test_a_service_configured_with_the_issuer_alone_verifies_the_gateways_tokens(
    live_server, settings, token_pair
) -> None:
    settings.JWT_ISSUER = settings.AUTH_ISSUER = live_server.url
    settings.AUTH_JWKS_URL = ""
    settings.AUTH_AUDIENCE = settings.JWT_AUDIENCE
    reset_jwks_cache()
    try:
        pair = token_pair()
        assert verify_access_token(pair.access)["iss"] == live_server.url
    finally:
        reset_jwks_cache()
