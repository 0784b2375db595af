"""The whole path a newcomer takes: browser login at the provider, a token pair, an API call.

The service behind the gateway is a real local HTTP server that verifies the token the way every
ecomms service does (``ecomms_common.auth``), against the JWKS the gateway under test publishes.
"""

import pytest
from gateway.models import User

from ecomms_common.auth import InvalidToken, reset_jwks_cache, verify_access_token
from tests.edge import EdgeClient
from tests.servers import Received, Reply

pytestmark = pytest.mark.django_db


def test_login_then_token_then_a_proxied_call_that_the_service_accepts(
    client, gateway, login, orders, live_server, settings
) -> None:
    settings.AUTH_JWKS_URL = f"{live_server.url}/.well-known/jwks.json"
    settings.AUTH_ISSUER = settings.JWT_ISSUER
    settings.AUTH_AUDIENCE = settings.JWT_AUDIENCE
    reset_jwks_cache()

    def orders_service(received: Received) -> Reply:
        token = received.headers.get("authorization", "").removeprefix("Bearer ")
        try:
            claims = verify_access_token(token)
        except InvalidToken as exc:
            return Reply(status=401, body=str(exc.detail).encode())
        return Reply(
            body=f'{{"customer": "{claims["sub"]}", "roles": "{claims["roles"]}"}}'.encode()
        )

    orders.respond = orders_service

    # Browser: /oidc/authenticate/ -> provider (log in as "sam") -> /oidc/callback/.
    landed = login(client, "sam", email="sam@example.com", email_verified=True, name="Sam S")
    assert landed["Location"] == "/auth/token/"
    user = User.objects.get(oidc_sub="sam")
    assert user.email == "sam@example.com"

    pair = client.get("/auth/token/", HTTP_ACCEPT="application/json").json()

    # API client: the access token opens the orders service, through the gateway.
    api = EdgeClient(gateway.server)
    response = api.get("/customers/me/", HTTP_AUTHORIZATION=f"Bearer {pair['access']}")
    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode()
    assert body == f'{{"customer": "{user.public_id}", "roles": "[\'customer\']"}}'

    # The refreshed access token works the same way.
    refreshed = api.post(
        "/auth/token/refresh/", {"refresh": pair["refresh"]}, content_type="application/json"
    ).json()
    again = api.get("/customers/me/", HTTP_AUTHORIZATION=f"Bearer {refreshed['access']}")
    assert again.status_code == 200
    reset_jwks_cache()
