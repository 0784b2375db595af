"""The gateway's JWTs: simplejwt token classes signed by our key ring, with ``kid`` and claims.

simplejwt signs without a ``kid`` and verifies with a single key; :class:`KeyRingTokenBackend`
adds the ``kid`` header and verifies with the key the ``kid`` names, so tokens signed with the
previous key stay valid through a rotation. Access tokens are RFC 9068 ones (``typ: at+jwt``,
``client_id``, ``scope``); refresh tokens carry ``typ: refresh+jwt`` and the gateway's issuer as
their audience, so no service (nor any library told to require ``at+jwt``) takes one for an
access token. Every check of a token is
``ecomms_common.auth.token_verify``'s, with :class:`KeyRingKeys` (the in-process public keys) as
its key source: the gateway has no verification rules of its own.
"""

import threading
import time
from collections import OrderedDict
from datetime import timedelta
from typing import Any

import jwt
from django.conf import settings
from rest_framework_simplejwt.backends import TokenBackend
from rest_framework_simplejwt.exceptions import TokenBackendError, TokenBackendExpiredToken
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from ecomms_common.auth import TOKEN_TYP, InvalidToken, UnknownSigningKey, token_verify
from gateway.identity.keys import ALGORITHM, KeyRing, key_ring
from gateway.identity.revocation import denied_tokens
from gateway.models import User


class KeyRingKeys:
    """The key source of ``token_verify`` in the gateway: the public keys of our key ring."""

    def __init__(self, ring: KeyRing) -> None:
        self.ring = ring

    def key_for(self, kid: str) -> Any:
        public_key = self.ring.public_key(kid)
        if public_key is None:
            raise UnknownSigningKey()
        return public_key


def token_audience(token_type: str) -> str:
    """Return who a token of ``token_type`` is for: the services, or (refresh) the gateway."""
    return settings.JWT_AUDIENCE if token_type == "access" else settings.JWT_ISSUER  # noqa: S105


def gateway_token_verify(token: str, *, token_type: str) -> dict[str, Any]:
    """Return the claims of a valid token of ours of ``token_type``; raise ``InvalidToken``.

    Tokens issued before ``AUTH_LEGACY_TOKENS_ISSUED_BEFORE`` (``typ: JWT``, audience
    ``JWT_AUDIENCE`` whatever their kind) pass until they expire.
    """
    return token_verify(
        token,
        keys=KeyRingKeys(key_ring()),
        issuer=settings.JWT_ISSUER,
        audience=token_audience(token_type),
        leeway=settings.JWT_LEEWAY_SECONDS,
        token_type=token_type,
        legacy_issued_before=settings.AUTH_LEGACY_TOKENS_ISSUED_BEFORE,
        legacy_audience=settings.JWT_AUDIENCE,
    )


class KeyRingTokenBackend(TokenBackend):
    """Sign with the current key (``kid`` and ``typ`` in the header); verify: ``token_verify``."""

    def __init__(self, token_type: str) -> None:
        super().__init__(
            ALGORITHM,
            audience=token_audience(token_type),
            issuer=settings.JWT_ISSUER,
            leeway=settings.JWT_LEEWAY_SECONDS,
        )
        self.token_type = token_type

    def encode(self, payload: dict[str, Any]) -> str:
        ring = key_ring()
        claims = {**payload, "aud": self.audience, "iss": self.issuer}
        headers = {"kid": ring.signing_kid, "typ": TOKEN_TYP[self.token_type]}
        return jwt.encode(claims, ring.signing_key, algorithm=ALGORITHM, headers=headers)

    def decode(self, token: Any, verify: bool = True) -> dict[str, Any]:
        try:
            return gateway_token_verify(str(token), token_type=self.token_type)
        except InvalidToken as exc:
            if exc.get_codes() == "token_expired":
                raise TokenBackendExpiredToken("Token is expired") from exc
            raise TokenBackendError(f"Token is invalid: {exc.detail}") from exc


class GatewayTokenMixin:
    token_type: str

    @property
    def token_backend(self) -> TokenBackend:
        return KeyRingTokenBackend(self.token_type)


class GatewayAccessToken(GatewayTokenMixin, AccessToken):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.token is None:  # a new token: the client and scope RFC 9068 asks for
            self["client_id"] = settings.JWT_CLIENT_ID
            self["scope"] = settings.JWT_SCOPE

    @property
    def lifetime(self) -> timedelta:  # read per token, so settings apply without a restart
        return timedelta(seconds=settings.JWT_ACCESS_TTL_SECONDS)


class GatewayRefreshToken(GatewayTokenMixin, RefreshToken):
    access_token_class = GatewayAccessToken

    @property
    def lifetime(self) -> timedelta:
        return timedelta(seconds=settings.JWT_REFRESH_TTL_SECONDS)

    def check_blacklist(self) -> None:
        # Whether a refresh token was spent is token_refresh's to judge, under a row lock: a spent
        # one presented again revokes its whole family, which a parse error would hide.
        return None

    @classmethod
    def for_user(cls, user: User) -> "GatewayRefreshToken":
        token = super().for_user(user)
        describe(token, user)
        return token


def describe(token: RefreshToken | AccessToken, user: User) -> None:
    """Write who the user is into a token (access tokens copy these from their refresh token)."""
    token["email"] = user.email
    token["name"] = user.name
    token["roles"] = user.roles


class VerifiedTokens:
    """A bounded LRU of access tokens already verified, by their exact string, until they expire.

    A token that verified once keeps its valid signature and claims until ``exp``: a hit skips the
    RS256 check but not the expiry check, nor the denylist (gateway.identity.revocation), which
    :func:`access_token_verify` checks on every call.
    An entry is tied to the key ring, issuer, audience and leeway it was verified under, so a key
    retired from the ring, or another issuer or audience, is checked afresh (and refused).
    """

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple, *, now: float, leeway: float) -> dict[str, Any] | None:
        with self._lock:
            claims = self._entries.get(key)
            if claims is None:
                return None
            if now > claims["exp"] + leeway:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return claims

    def put(self, key: tuple, claims: dict[str, Any]) -> None:
        if self.max_entries <= 0:
            return
        with self._lock:
            self._entries[key] = claims
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


verified_tokens = VerifiedTokens(max_entries=settings.JWT_VERIFIED_CACHE_SIZE)


def access_token_verify(token: str) -> dict[str, Any]:
    """Return the claims of a valid access token of ours; raise ``InvalidToken`` otherwise."""
    leeway = settings.JWT_LEEWAY_SECONDS
    key = (token, id(key_ring()), settings.JWT_ISSUER, settings.JWT_AUDIENCE, leeway)
    claims = verified_tokens.get(key, now=time.time(), leeway=leeway)
    if claims is None:
        claims = gateway_token_verify(token, token_type="access")  # noqa: S106
        verified_tokens.put(key, claims)
    if denied_tokens.denied(claims.get("jti")):
        raise InvalidToken("This token was revoked (logout or account disabled).", "token_revoked")
    return claims
