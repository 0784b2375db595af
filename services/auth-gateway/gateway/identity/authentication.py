"""DRF authentication for the gateway's own API views, with its in-process keys.

Services verify tokens with ``ecomms_common.auth.token_verify`` and the gateway's JWKS; the
gateway must not fetch its own JWKS over HTTP, so it calls the same function with its key ring
as the key source (:func:`gateway.identity.tokens.access_token_verify`).
"""

from typing import Any

from django.http import HttpRequest
from rest_framework.request import Request

from ecomms_common.auth import GatewayUser, InvalidToken, JWTAuthentication
from gateway.identity.revocation import denied_tokens
from gateway.identity.tokens import access_token_verify


class LocalKeysJWTAuthentication(JWTAuthentication):
    """``Authorization: Bearer <access JWT>``, verified with the gateway's own public keys."""

    def authenticate(self, request: Request) -> tuple[GatewayUser, dict[str, Any]] | None:
        claims = bearer_claims(request._request)
        if claims is None:
            return None
        return GatewayUser.from_claims(claims), claims


def bearer_claims(request: HttpRequest) -> dict[str, Any] | None:
    """Return the claims of the request's bearer token, None without one; raise if it is bad.

    Verified once per request (the rate limiter and the proxy both ask).
    """
    if not hasattr(request, "_gateway_bearer"):
        try:
            request._gateway_bearer = (_verify_authorization(request), None)
        except InvalidToken as exc:
            request._gateway_bearer = (None, exc)
    claims, error = request._gateway_bearer
    if error is not None:
        raise error
    return claims


def _verify_authorization(request: HttpRequest) -> dict[str, Any] | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise InvalidToken("The Authorization header must be 'Bearer <access token>'.")
    denied_tokens.refresh()
    return access_token_verify(token)
