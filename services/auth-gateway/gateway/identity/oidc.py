"""Login with an OpenID Connect provider, on top of mozilla-django-oidc.

What the library leaves out, added here: endpoints (and the token endpoint's client
authentication method) from a discovery document, the ID token's ``iss`` and ``aud`` checks
(RS256 pinned, a leeway for the provider's clock), users keyed on the provider's ``sub`` rather
than the email, ``next`` limited to local paths, and one shape for every way a login fails
(:class:`LoginFailed` and its kinds: JSON for API clients, a page for browsers).
"""

import logging
import threading
import time
import unicodedata
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus, urlsplit

import jwt
import requests
from django.conf import settings
from django.contrib import auth
from django.core.exceptions import ImproperlyConfigured, SuspiciousOperation
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from ecomms_common.auth import unverified_header
from ecomms_common.errors import error_response
from gateway.api.pages import page_headers, wants_json
from gateway.models import User
from gateway.selectors import users_by_claims
from gateway.services import user_link_from_claims

logger = logging.getLogger(__name__)

ID_TOKEN_ALGORITHM = "RS256"  # noqa: S105 - an algorithm name, not a secret
# How the gateway authenticates to the provider's token endpoint, in order of preference.
TOKEN_ENDPOINT_AUTH_METHODS = ("client_secret_basic", "client_secret_post")
SUBJECT_MAX_LENGTH = 255  # User.oidc_sub
# Profile claims and the longest value the user table keeps of each. A longer email or phone is
# dropped (cut, it would be another address); a longer name is cut.
PROFILE_CLAIM_MAX_LENGTHS = {
    "email": 254,
    "phone_number": 32,
    "name": 255,
    "given_name": 255,
    "family_name": 255,
}
_DROPPED_WHEN_LONG = frozenset({"email", "phone_number"})


def subject_acceptable(sub: Any) -> bool:
    """Return whether a ``sub`` claim can key a user: 1-255 printable characters."""
    if isinstance(sub, bool) or not isinstance(sub, str | int):
        return False
    text = str(sub)
    return 0 < len(text) <= SUBJECT_MAX_LENGTH and text.isprintable()


def claims_clean(claims: dict[str, Any]) -> dict[str, Any]:
    """Return the claims with profile text the user table can hold.

    Control characters (NUL among them, which PostgreSQL text cannot hold) are removed, and
    values too long for their column are cut or dropped, so that no provider's claim can fail
    a login with a database error.
    """
    cleaned = dict(claims)
    for claim, limit in PROFILE_CLAIM_MAX_LENGTHS.items():
        if claim not in cleaned or cleaned[claim] is None:
            continue
        value = cleaned[claim]
        if not isinstance(value, str):
            del cleaned[claim]
            continue
        text = "".join(char for char in value if unicodedata.category(char) != "Cc").strip()
        if len(text) > limit:
            text = "" if claim in _DROPPED_WHEN_LONG else text[:limit]
        cleaned[claim] = text
    if not cleaned.get("name"):
        parts = [cleaned.get("given_name"), cleaned.get("family_name")]
        joined = " ".join(part for part in parts if part)
        if joined:
            cleaned["name"] = joined[: PROFILE_CLAIM_MAX_LENGTHS["name"]]
    return cleaned


@dataclass(frozen=True)
class Provider:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    userinfo_endpoint: str
    jwks_uri: str
    # What the provider's discovery document lists; empty when there is none to read.
    token_endpoint_auth_methods: tuple[str, ...] = ()

    @property
    def token_endpoint_auth_method(self) -> str:
        """Return ``OIDC_TOKEN_ENDPOINT_AUTH_METHOD``, else the first the provider supports.

        A discovery document without the list means ``client_secret_basic`` (OIDC Discovery 1.0,
        RFC 8414), as does no document at all (RFC 6749: every provider supports it).
        """
        if settings.OIDC_TOKEN_ENDPOINT_AUTH_METHOD:
            return settings.OIDC_TOKEN_ENDPOINT_AUTH_METHOD
        supported = self.token_endpoint_auth_methods or ("client_secret_basic",)
        return next(
            (method for method in TOKEN_ENDPOINT_AUTH_METHODS if method in supported),
            "client_secret_basic",
        )


# Each endpoint (a discovery document's key) and the setting that gives it without a document.
ENDPOINT_SETTINGS = {
    "issuer": "OIDC_OP_ISSUER",
    "authorization_endpoint": "OIDC_OP_AUTHORIZATION_ENDPOINT",
    "token_endpoint": "OIDC_OP_TOKEN_ENDPOINT",
    "userinfo_endpoint": "OIDC_OP_USER_ENDPOINT",
    "jwks_uri": "OIDC_OP_JWKS_ENDPOINT",
}

_discovered: dict[str, tuple[float, Provider]] = {}
_discovery_lock = threading.Lock()


def provider() -> Provider:
    """Return the provider's endpoints: from ``OIDC_OP_*``, or its discovery document (cached)."""
    url = settings.OIDC_OP_DISCOVERY_URL
    if not url:
        configured = {field: getattr(settings, name) for field, name in ENDPOINT_SETTINGS.items()}
        missing = [ENDPOINT_SETTINGS[field] for field, value in configured.items() if not value]
        if missing:
            raise ImproperlyConfigured(
                f"Set OIDC_OP_DISCOVERY_URL, or every OIDC_OP_* endpoint (missing: {missing})."
            )
        return Provider(**configured)
    with _discovery_lock:
        cached = _discovered.get(url)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        response = requests.get(url, timeout=settings.OIDC_TIMEOUT)
        response.raise_for_status()
        document = response.json()
        found = Provider(
            **{field: document[field] for field in ENDPOINT_SETTINGS},
            token_endpoint_auth_methods=tuple(
                document.get("token_endpoint_auth_methods_supported") or ()
            ),
        )
        _discovered[url] = (time.monotonic() + settings.OIDC_DISCOVERY_CACHE_SECONDS, found)
        return found


def forget_discovery() -> None:
    """Drop cached discovery documents (a provider moved, or tests start another)."""
    with _discovery_lock:
        _discovered.clear()


class LoginFailed(Exception):
    """A login that did not complete: a status, a stable code and what the user can do."""

    status_code = 401
    code = "login_failed"
    default_message = "The login did not complete; start it again."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.default_message)
        self.message = message or self.default_message


class LoginStateInvalid(LoginFailed):
    status_code = 400
    code = "login_state_invalid"
    default_message = (
        "This browser has no login in progress with that state (a replayed or stale link, or "
        "another browser): start the login again."
    )


class LoginRefusedByProvider(LoginFailed):
    code = "login_refused"
    default_message = "The login provider did not let the login through; start it again."


class CodeExchangeFailed(LoginFailed):
    code = "code_exchange_failed"
    default_message = "The login provider refused to exchange the login's code for tokens."


class IdTokenInvalid(LoginFailed):
    code = "id_token_invalid"
    default_message = "The login provider's ID token was refused."


class ProviderUnavailable(LoginFailed):
    status_code = 503
    code = "provider_unavailable"
    default_message = "The login provider cannot be reached; try again shortly."


def provider_said(answer: Any) -> str:
    """Return what an OAuth error answer (RFC 6749 5.2 / 4.1.2.1) says, for the user to read."""
    if not isinstance(answer, dict):
        return ""
    fields = ("error", "error_description")
    return ": ".join(str(answer[field])[:300] for field in fields if answer.get(field))


class IdTokenRefused(SuspiciousOperation):
    """The provider's ID token failed a check (raised inside the library's flow)."""


class SubjectOIDCBackend(OIDCAuthenticationBackend):
    """Authenticate by the provider's ``sub``; verify the ID token completely."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Django builds backends to load the session's user on every request: no network here.
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID
        self.OIDC_RP_CLIENT_SECRET = settings.OIDC_RP_CLIENT_SECRET
        self.OIDC_RP_SIGN_ALGO = ID_TOKEN_ALGORITHM
        self.OIDC_RP_IDP_SIGN_KEY = None
        self.UserModel = User

    def authenticate(self, request: HttpRequest | None, **kwargs: Any) -> User | None:
        # The library reads endpoints from settings only; ours may come from discovery.
        self.provider = provider()
        self.OIDC_OP_TOKEN_ENDPOINT = self.provider.token_endpoint
        self.OIDC_OP_USER_ENDPOINT = self.provider.userinfo_endpoint
        self.OIDC_OP_JWKS_ENDPOINT = self.provider.jwks_uri
        return super().authenticate(request, **kwargs)

    def verify_token(self, token: str, **kwargs: Any) -> dict[str, Any]:
        """Return the ID token's claims after checking signature, ``iss``, ``aud``, ``nonce``."""
        unverified_header(
            token, algorithm=ID_TOKEN_ALGORITHM, refused=IdTokenRefused, what="ID token"
        )
        key = self.retrieve_matching_jwk(token)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[ID_TOKEN_ALGORITHM],
                audience=self.OIDC_RP_CLIENT_ID,
                issuer=self.provider.issuer,
                # The provider's clock and ours differ: exp, iat and nbf are each given this much.
                leeway=settings.OIDC_ID_TOKEN_LEEWAY_SECONDS,
                options={"require": ["iss", "aud", "sub", "exp", "iat"]},
            )
        except jwt.InvalidTokenError as exc:
            raise IdTokenRefused(f"ID token refused: {exc}") from exc
        # Several audiences: the token must have been issued to us (OIDC Core 3.1.3.7).
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != self.OIDC_RP_CLIENT_ID:
            raise IdTokenRefused("ID token refused: azp is not this client.")
        if claims.get("nonce") != kwargs.get("nonce"):
            raise IdTokenRefused("ID token refused: the nonce does not match.")
        return claims

    def get_token(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Exchange the code at the token endpoint, authenticated as the provider expects."""
        auth = None
        if self.provider.token_endpoint_auth_method == "client_secret_basic":  # noqa: S105
            # RFC 6749 2.3.1: both form-encoded, then HTTP Basic; neither in the body.
            auth = (quote_plus(payload["client_id"]), quote_plus(payload["client_secret"]))
            payload = {
                name: value
                for name, value in payload.items()
                if name not in ("client_id", "client_secret")
            }
        response = requests.post(
            self.OIDC_OP_TOKEN_ENDPOINT, data=payload, auth=auth, timeout=settings.OIDC_TIMEOUT
        )
        if response.status_code >= 500:
            response.raise_for_status()
        if response.status_code != 200:
            try:
                said = provider_said(response.json())
            except ValueError:
                said = ""
            logger.warning(
                "the OIDC provider refused the code (HTTP %s): %s", response.status_code, said
            )
            answer = f"HTTP {response.status_code}" + (f": {said}" if said else "")
            raise CodeExchangeFailed(
                f"The login provider refused to exchange the login's code for tokens ({answer}); "
                "start the login again."
            )
        return response.json()

    def get_userinfo(self, access_token: str, id_token: str, payload: dict[str, Any]) -> dict:
        claims = super().get_userinfo(access_token, id_token, payload)
        # The userinfo response must describe the subject the ID token names (OIDC Core 5.3.2).
        if str(claims.get("sub")) != str(payload["sub"]):
            raise SuspiciousOperation("The userinfo subject differs from the ID token's.")
        # The account is the verified ID token's issuer and subject, whatever userinfo says.
        return {**payload, **claims, "iss": payload["iss"], "sub": payload["sub"]}

    def get_user(self, user_id: Any) -> User | None:
        # The library's version returns deactivated users too: their sessions must end.
        user = super().get_user(user_id)
        return user if user is not None and user.is_active else None

    def verify_claims(self, claims: dict[str, Any]) -> bool:
        # A subject that cannot key a user (too long, NUL or other control characters) fails
        # the login (the failure page), rather than the database.
        return subject_acceptable(claims.get("sub"))

    def filter_users_by_claims(self, claims: dict[str, Any]) -> Any:
        # The account of this issuer and subject, or one linked before issuers were recorded
        # (user_link_from_claims picks the first and records the issuer).
        return users_by_claims(issuer=str(claims.get("iss") or ""), subject=str(claims["sub"]))

    def create_user(self, claims: dict[str, Any]) -> User:
        return user_link_from_claims(claims=claims_clean(claims))

    def update_user(self, user: User, claims: dict[str, Any]) -> User:
        return user_link_from_claims(claims=claims_clean(claims))


def local_path(url: str | None) -> str | None:
    """Return ``url`` when it is a path on this site, otherwise None (no open redirects)."""
    if not url or not url.startswith("/") or url.startswith("//") or "\\" in url:
        return None
    parts = urlsplit(url)
    if parts.scheme or parts.netloc or any(ord(char) < 32 for char in url):
        return None
    return url


class LoginStartView(OIDCAuthenticationRequestView):
    """Redirect to the provider (PKCE, state, nonce); remember ``next`` only if it is local."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super(OIDCAuthenticationRequestView, self).__init__(*args, **kwargs)
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID

    def get(self, request: HttpRequest) -> HttpResponse:
        try:
            self.OIDC_OP_AUTH_ENDPOINT = provider().authorization_endpoint
        except requests.RequestException as exc:
            return provider_unavailable(request, exc)
        response = super().get(request)
        request.session["oidc_login_next"] = local_path(request.GET.get("next"))
        return response


TOKENS_PENDING_SESSION_KEY = "gateway_tokens_pending"


class LoginCallbackView(OIDCAuthenticationCallbackView):
    """The provider's redirect back: state and nonce are spent on first use."""

    @property
    def success_url(self) -> str:
        next_url = local_path(self.request.session.get("oidc_login_next"))
        return next_url or settings.LOGIN_REDIRECT_URL

    def login_success(self) -> HttpResponse:
        response = super().login_success()
        # The token page issues one pair for this login, on its first load (views.TokenForSession).
        self.request.session[TOKENS_PENDING_SESSION_KEY] = True
        return response

    def login_failure(self) -> HttpResponse:
        # The library's failure for what is left: no user (an unusable subject, a userinfo
        # about another subject) or a disabled account.
        return login_failure_response(self.request, LoginFailed())

    def get(self, request: HttpRequest) -> HttpResponse:
        try:
            self._callback_check(request)
            return super().get(request)
        except IdTokenRefused as exc:
            return login_failure_response(request, IdTokenInvalid(f"{exc} Start the login again."))
        except LoginFailed as failure:
            return login_failure_response(request, failure)
        except requests.HTTPError as exc:
            if exc.response is not None and exc.response.status_code < 500:
                logger.warning("the OIDC provider refused the login: %s", exc)
                return login_failure_response(request, LoginFailed())
            return provider_unavailable(request, exc)
        except requests.RequestException as exc:
            return provider_unavailable(request, exc)

    def _callback_check(self, request: HttpRequest) -> None:
        """Raise the kind of failure the callback's query alone shows."""
        if request.GET.get("error"):
            states = request.session.get("oidc_states", {})
            if request.GET.get("state") in states:  # spent, as the library would
                del states[request.GET["state"]]
                request.session.save()
            if request.user.is_authenticated:  # nor does an earlier session carry on
                auth.logout(request)
            said = provider_said(dict(request.GET.items()))
            raise LoginRefusedByProvider(
                f"The login provider did not let the login through ({said}); start it again."
            )
        state = request.GET.get("state")
        if not request.GET.get("code") or state not in request.session.get("oidc_states", {}):
            raise LoginStateInvalid()


def login_failure_response(request: HttpRequest, failure: LoginFailed) -> HttpResponse:
    """Answer a failed login: the JSON error envelope for API clients, a page for browsers."""
    if wants_json(request):
        return error_response(failure.status_code, failure.code, failure.message)
    page = render(
        request,
        "gateway/login_failed.html",
        {"code": failure.code, "message": failure.message, "login_url": settings.LOGIN_URL},
        status=failure.status_code,
    )
    return page_headers(page)


def provider_unavailable(request: HttpRequest, exc: Exception) -> HttpResponse:
    logger.warning("the OIDC provider failed: %r", exc)
    return login_failure_response(request, ProviderUnavailable())
