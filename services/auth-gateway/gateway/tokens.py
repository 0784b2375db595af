"""The gateway's JWTs: simplejwt token classes signed by our key ring, with ``kid`` and claims.

simplejwt signs without a ``kid`` and verifies with a single key; :class:`KeyRingTokenBackend`
adds the ``kid`` header and picks the verifying key by it, so tokens signed with the previous
key stay valid through a rotation. :func:`access_token_verify` applies the same rules as
``ecomms_common.auth.verify_access_token`` with the in-process public keys.
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

from ecomms_common.auth import REQUIRED_CLAIMS, InvalidToken
from gateway.keys import ALGORITHM, key_ring
from gateway.models import User

ACCESS_REQUIRED_CLAIMS = [*REQUIRED_CLAIMS, "jti", "token_type"]


class KeyRingTokenBackend(TokenBackend):
    """Sign with the current key (``kid`` in the header); verify with the key the ``kid`` names."""

    def __init__(self) -> None:
        super().__init__(
            ALGORITHM,
            audience=settings.JWT_AUDIENCE,
            issuer=settings.JWT_ISSUER,
            leeway=settings.JWT_LEEWAY_SECONDS,
        )

    def encode(self, payload: dict[str, Any]) -> str:
        ring = key_ring()
        claims = {**payload, "aud": self.audience, "iss": self.issuer}
        return jwt.encode(
            claims, ring.signing_key, algorithm=ALGORITHM, headers={"kid": ring.signing_kid}
        )

    def decode(self, token: Any, verify: bool = True) -> dict[str, Any]:
        try:
            return decode_signed(str(token), leeway=self.get_leeway().total_seconds())
        except jwt.ExpiredSignatureError as exc:
            raise TokenBackendExpiredToken("Token is expired") from exc
        except jwt.InvalidTokenError as exc:
            raise TokenBackendError(f"Token is invalid: {exc}") from exc


def decode_signed(token: str, *, leeway: float) -> dict[str, Any]:
    """Return the claims of a token signed by one of our keys; raise ``jwt.InvalidTokenError``."""
    header = jwt.get_unverified_header(token)
    if header.get("alg") != ALGORITHM:
        raise jwt.InvalidAlgorithmError(f"Tokens must be signed with {ALGORITHM}.")
    kid = header.get("kid")
    public_key = key_ring().public_key(kid) if isinstance(kid, str) else None
    if public_key is None:
        raise jwt.InvalidTokenError("The token is signed with an unknown key.")
    return jwt.decode(
        token,
        public_key,
        algorithms=[ALGORITHM],
        audience=settings.JWT_AUDIENCE,
        issuer=settings.JWT_ISSUER,
        leeway=leeway,
        options={"require": REQUIRED_CLAIMS},
    )


class GatewayTokenMixin:
    @property
    def token_backend(self) -> TokenBackend:
        return KeyRingTokenBackend()


class GatewayAccessToken(GatewayTokenMixin, AccessToken):
    @property
    def lifetime(self) -> timedelta:  # read per token, so settings apply without a restart
        return timedelta(seconds=settings.JWT_ACCESS_TTL_SECONDS)


class GatewayRefreshToken(GatewayTokenMixin, RefreshToken):
    access_token_class = GatewayAccessToken

    @property
    def lifetime(self) -> timedelta:
        return timedelta(seconds=settings.JWT_REFRESH_TTL_SECONDS)

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

    Access tokens are never revoked before ``exp`` (only refresh tokens are), so a token that
    verified once stays valid until then: a hit skips the RS256 check but not the expiry check.
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
        claims = _access_token_check(token, leeway=leeway)
        verified_tokens.put(key, claims)
    return claims


def _access_token_check(token: str, *, leeway: float) -> dict[str, Any]:
    try:
        claims = decode_signed(token, leeway=leeway)
    except jwt.ExpiredSignatureError as exc:
        raise InvalidToken("The token has expired.", code="token_expired") from exc
    except jwt.InvalidTokenError as exc:
        raise InvalidToken(f"Invalid token: {exc}") from exc
    missing = [claim for claim in ACCESS_REQUIRED_CLAIMS if claim not in claims]
    if missing:
        raise InvalidToken(f"Invalid token: missing {', '.join(missing)}.")
    # Refresh tokens are signed with the same key; only access tokens open the API.
    if claims["token_type"] != "access":  # noqa: S105
        raise InvalidToken("Only access tokens are accepted here.")
    roles = claims.get("roles", [])
    if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
        raise InvalidToken("The roles claim must be a list of strings.")
    if not isinstance(claims["exp"], int | float):
        raise InvalidToken("Invalid token: exp must be a number.")
    return claims
