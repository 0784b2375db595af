"""DRF authentication for the gateway's own API views, with its in-process keys.

Services verify tokens against the gateway's JWKS (``ecomms_common.auth``); the gateway itself
must not fetch its own JWKS over HTTP, so it checks the same rules with :mod:`gateway.tokens`.
"""

from typing import Any

from rest_framework.request import Request

from ecomms_common.auth import GatewayUser, JWTAuthentication
from gateway.proxy import bearer_claims


class LocalKeysJWTAuthentication(JWTAuthentication):
    """``Authorization: Bearer <access JWT>``, verified with the gateway's own public keys."""

    def authenticate(self, request: Request) -> tuple[GatewayUser, dict[str, Any]] | None:
        claims = bearer_claims(request._request)
        if claims is None:
            return None
        return GatewayUser.from_claims(claims), claims
