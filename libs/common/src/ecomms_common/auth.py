"""Verify the gateway's RS256 access tokens against its JWKS, and the roles they carry.

Services never call the gateway per request: public keys are cached (``AUTH_JWKS_CACHE_SECONDS``)
and refetched once when a token names an unknown ``kid`` (at most once per
``AUTH_JWKS_REFETCH_COOLDOWN_SECONDS``, so a flood of made-up kids cannot hammer the gateway).

:func:`token_verify` holds every rule a token must pass; callers hand it a :class:`KeySource`
(here :class:`JWKSKeys`; the gateway passes its own key ring) and never check tokens themselves.

Access tokens follow RFC 9068: header ``typ: at+jwt``, claims ``iss sub aud exp iat jti client_id
scope``. Refresh tokens carry ``typ: refresh+jwt`` and the gateway itself as audience, so neither
this verifier nor any library told to require ``at+jwt`` takes one for an access token. Tokens
issued before that change carried ``typ: JWT``: they pass only when issued before
``AUTH_LEGACY_TOKENS_ISSUED_BEFORE`` (the cut-over), so they keep working until they expire.
"""

import functools
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import jwt
import requests
from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from ecomms_common.errors import ServiceUnavailable

logger = logging.getLogger(__name__)

ALGORITHM = "RS256"
# The header ``typ`` of each kind of token (RFC 9068 for access tokens; ours for refresh tokens).
TOKEN_TYP = {"access": "at+jwt", "refresh": "refresh+jwt"}
# What every token issued before the cut-over carried, whatever its kind.
LEGACY_TYP = "jwt"
# Every token the gateway issues carries these; a token without one of them is refused.
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub", "jti", "token_type"]
# RFC 9068 (section 2.2) adds the client the access token was issued to.
ACCESS_REQUIRED_CLAIMS = [*REQUIRED_CLAIMS, "client_id"]
TIME_CLAIMS = ("exp", "iat", "nbf")
ROLE_ADMIN = "admin"
ROLE_CUSTOMER = "customer"


class AuthKeysUnavailable(ServiceUnavailable):
    default_code = "auth_keys_unavailable"
    default_detail = "The token signing keys cannot be fetched right now; try again shortly."


class InvalidToken(exceptions.AuthenticationFailed):
    default_code = "invalid_token"


class UnknownSigningKey(InvalidToken):
    default_detail = "The token is signed with an unknown key."


class KeySource(Protocol):
    """Where the verifier finds the public key a token's ``kid`` names."""

    def key_for(self, kid: str) -> Any:
        """Return the public key named ``kid``.

        Raise ``UnknownSigningKey`` when no key has that name, ``AuthKeysUnavailable`` when the
        keys cannot be had right now.
        """


@dataclass(frozen=True)
class GatewayUser:
    """The caller, as the gateway's access token describes them (no database row behind it)."""

    sub: str
    email: str
    name: str
    roles: frozenset[str]

    is_authenticated = True
    is_anonymous = False

    @classmethod
    def from_claims(cls, claims: dict[str, Any]) -> "GatewayUser":
        """Return the caller described by a verified access token's claims."""
        return cls(
            sub=str(claims["sub"]),
            email=str(claims.get("email", "")),
            name=str(claims.get("name", "")),
            roles=frozenset(claims.get("roles", [])),
        )

    @property
    def pk(self) -> str:
        return self.sub

    @property
    def is_admin(self) -> bool:
        return ROLE_ADMIN in self.roles

    @property
    def is_customer(self) -> bool:
        return ROLE_CUSTOMER in self.roles

    def __str__(self) -> str:
        return self.email or self.sub


# RFC 8414: where an authorization server (the gateway) publishes its metadata.
METADATA_PATH = "/.well-known/oauth-authorization-server"


@functools.cache
def _jwks_client(url: str, lifespan: float, cooldown: float, timeout: float) -> jwt.PyJWKClient:
    return jwt.PyJWKClient(
        url, cache_jwk_set=True, lifespan=lifespan, cooldown_duration=cooldown, timeout=timeout
    )


@functools.cache
def _discovered_jwks_url(issuer: str, timeout: float) -> str:
    # A failed fetch raises, and is not cached: the next token tries again.
    response = requests.get(issuer.rstrip("/") + METADATA_PATH, timeout=timeout)
    response.raise_for_status()
    metadata = response.json()
    # RFC 8414 3.3: the metadata must name the issuer it was fetched for.
    if metadata.get("issuer") != issuer or not isinstance(metadata.get("jwks_uri"), str):
        raise requests.RequestException(
            f"{issuer}{METADATA_PATH} names another issuer or no jwks_uri"
        )
    return metadata["jwks_uri"]


def jwks_url() -> str:
    """Return ``AUTH_JWKS_URL``, else the ``jwks_uri`` of ``AUTH_ISSUER``'s metadata (cached)."""
    if settings.AUTH_JWKS_URL:
        return settings.AUTH_JWKS_URL
    return _discovered_jwks_url(settings.AUTH_ISSUER, settings.AUTH_JWKS_TIMEOUT_SECONDS)


def jwks_client() -> jwt.PyJWKClient:
    """Return the (process-wide, cached) JWKS client for the configured URL."""
    return _jwks_client(
        jwks_url(),
        settings.AUTH_JWKS_CACHE_SECONDS,
        settings.AUTH_JWKS_REFETCH_COOLDOWN_SECONDS,
        settings.AUTH_JWKS_TIMEOUT_SECONDS,
    )


def reset_jwks_cache() -> None:
    """Forget every cached JWKS client and its keys, and every discovered JWKS URL."""
    _jwks_client.cache_clear()
    _discovered_jwks_url.cache_clear()


class JWKSKeys:
    """The gateway's public keys, fetched from ``AUTH_JWKS_URL`` (or discovered) and cached."""

    def key_for(self, kid: str) -> Any:
        try:
            return jwks_client().get_signing_key(kid).key
        except (jwt.PyJWKClientConnectionError, requests.RequestException, ValueError) as exc:
            logger.warning("the gateway's public keys cannot be had: %s", exc)
            raise AuthKeysUnavailable() from exc
        except jwt.PyJWKClientError as exc:
            raise UnknownSigningKey() from exc


def typ_normalized(typ: Any) -> str | None:
    """Return a JOSE ``typ`` as RFC 7515 compares it: lower case, without "application/"."""
    if not isinstance(typ, str):
        return None
    typ = typ.lower()
    return typ.removeprefix("application/")


def unverified_header(
    token: str, *, algorithm: str, refused: type[Exception], what: str
) -> dict[str, Any]:
    """Return a JWT's header, read before its signature is checked: raise ``refused`` when the
    token does not parse or is not signed with ``algorithm`` (``what`` names it: "token")."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError as exc:
        raise refused(f"Malformed {what}: {exc}") from exc
    if header.get("alg") != algorithm:
        raise refused(f"{what[0].upper()}{what[1:]}s must be signed with {algorithm}.")
    return header


def token_verify(
    token: str,
    *,
    keys: KeySource,
    issuer: str,
    audience: str,
    leeway: float,
    token_type: str = "access",  # noqa: S107 - a claim value, not a secret
    legacy_issued_before: datetime | None = None,
    legacy_audience: str | None = None,
) -> dict[str, Any]:
    """Return the claims of a valid gateway token of ``token_type``; raise ``InvalidToken``.

    The one place the rules live: RS256 only, a ``kid`` the key source knows, the header ``typ``
    of ``token_type`` (``at+jwt`` for access tokens), our issuer and audience, every required
    claim (and ``client_id`` on access tokens), numeric time claims within ``leeway``, the
    expected ``token_type`` claim, a non-empty string ``sub`` and, when present, ``roles`` as a
    list of strings.

    A legacy token (``typ: JWT``, audience ``legacy_audience`` or ``audience``) passes the same
    checks but only when its ``iat`` is before ``legacy_issued_before``; without that instant,
    never.
    """
    header = unverified_header(token, algorithm=ALGORITHM, refused=InvalidToken, what="token")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise InvalidToken("The token names no signing key (kid).")
    typ = typ_normalized(header.get("typ"))
    legacy = typ == LEGACY_TYP and legacy_issued_before is not None
    if typ != TOKEN_TYP[token_type] and not legacy:
        raise InvalidToken(f"Only tokens of typ {TOKEN_TYP[token_type]} are accepted here.")
    rfc_9068 = token_type == "access" and not legacy  # noqa: S105 - a claim value
    required = ACCESS_REQUIRED_CLAIMS if rfc_9068 else REQUIRED_CLAIMS
    public_key = keys.key_for(kid)
    try:
        claims = jwt.decode(
            token,
            public_key,
            algorithms=[ALGORITHM],
            audience=(legacy_audience or audience) if legacy else audience,
            issuer=issuer,
            leeway=leeway,
            options={"require": required},
        )
    except jwt.ExpiredSignatureError as exc:
        raise InvalidToken("The token has expired.", code="token_expired") from exc
    except jwt.InvalidTokenError as exc:
        raise InvalidToken(f"Invalid token: {exc}") from exc
    # PyJWT reads times with int(), so "1999999999" would pass for a number: we do not.
    for name in TIME_CLAIMS:
        value = claims.get(name, 0)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidToken(f"Invalid token: {name} must be a number.")
    if legacy and claims["iat"] >= legacy_issued_before.timestamp():
        raise InvalidToken(f"Only tokens of typ {TOKEN_TYP[token_type]} are accepted here.")
    # Belt and braces beside typ: the kinds of token also differ by this claim.
    if claims["token_type"] != token_type:
        raise InvalidToken(f"Only {token_type} tokens are accepted here.")
    if not isinstance(claims["sub"], str) or not claims["sub"]:
        raise InvalidToken("Invalid token: sub must be a non-empty string.")
    roles = claims.get("roles", [])
    if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
        raise InvalidToken("The roles claim must be a list of strings.")
    return claims


def verify_access_token(token: str) -> dict[str, Any]:
    """Return the claims of a valid access token, checked against the gateway's JWKS."""
    return token_verify(
        token,
        keys=JWKSKeys(),
        issuer=settings.AUTH_ISSUER,
        audience=settings.AUTH_AUDIENCE,
        leeway=settings.AUTH_LEEWAY_SECONDS,
        legacy_issued_before=settings.AUTH_LEGACY_TOKENS_ISSUED_BEFORE,
    )


class JWTAuthentication(BaseAuthentication):
    """``Authorization: Bearer <access JWT>`` issued by the gateway."""

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[GatewayUser, dict[str, Any]] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword.lower().encode():
            return None
        if len(parts) != 2:
            raise InvalidToken("The Authorization header must be 'Bearer <token>'.")
        try:
            token = parts[1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise InvalidToken("The token is not ASCII.") from exc
        claims = verify_access_token(token)
        return GatewayUser.from_claims(claims), claims

    def authenticate_header(self, request: Request) -> str:
        return f'{self.keyword} realm="ecomms"'


class IsAdmin(BasePermission):
    """The caller's token carries the ``admin`` role."""

    message = "This action needs the admin role."

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(getattr(request.user, "is_admin", False))


class IsCustomer(BasePermission):
    """The caller's token carries the ``customer`` role."""

    message = "This action needs the customer role."

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(getattr(request.user, "is_customer", False))


class JWTAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = JWTAuthentication
    name = "gatewayJWT"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "bearerFormat": "JWT (RFC 9068, typ at+jwt)"}
