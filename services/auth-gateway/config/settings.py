"""Settings of the auth-gateway service: shared defaults from ecomms_common, all from the env."""

from ecomms_common.base_settings import *  # noqa: F403
from ecomms_common.base_settings import (
    INSTALLED_APPS,
    MIDDLEWARE,
    REST_FRAMEWORK,
    SPECTACULAR_SETTINGS,
    env,
)

SERVICE_NAME = "auth-gateway"

INSTALLED_APPS = [
    *INSTALLED_APPS,
    "django.contrib.sessions",
    "mozilla_django_oidc",
    "rest_framework_simplejwt.token_blacklist",
    "gateway",
]
# Proxied paths never reach Django: config.asgi sends them to the edge (gateway.edge).
# Rate limiting runs right after the request id is set, before anything else does work.
_after_guid = MIDDLEWARE.index("django_guid.middleware.guid_middleware") + 1
MIDDLEWARE = [
    # Only what a trusted proxy (the Ingress) wrote about the client reaches anything below.
    MIDDLEWARE[0],
    *MIDDLEWARE[1:_after_guid],
    "gateway.ratelimit.RateLimitMiddleware",
    *MIDDLEWARE[_after_guid:-1],
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # No page of the gateway's may be framed by another site (X-Frame-Options: DENY).
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    MIDDLEWARE[-1],
]
READINESS_CHECKS = ["database"]
AUTH_USER_MODEL = "gateway.User"
# The gateway verifies bearer tokens with its own keys, never by fetching its own JWKS.
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "gateway.identity.authentication.LocalKeysJWTAuthentication"
    ],
}

# Browser session (only for the login flow and GET /auth/token/). Lax, not Strict: the redirect
# back from the provider must carry the session cookie.
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=8 * 3600)

# --- Login with an OpenID Connect provider (mozilla-django-oidc) -----------------------------
# Either every endpoint (OIDC_OP_*) plus the issuer, or one discovery URL that names them all.
# Unset, the gateway uses the local provider that `make up` starts on port 9400.
LOCAL_OIDC_DISCOVERY_URL = "http://127.0.0.1:9400/.well-known/openid-configuration"
OIDC_OP_AUTHORIZATION_ENDPOINT = env.str("OIDC_OP_AUTHORIZATION_ENDPOINT", default="")
OIDC_OP_TOKEN_ENDPOINT = env.str("OIDC_OP_TOKEN_ENDPOINT", default="")
OIDC_OP_USER_ENDPOINT = env.str("OIDC_OP_USER_ENDPOINT", default="")
OIDC_OP_JWKS_ENDPOINT = env.str("OIDC_OP_JWKS_ENDPOINT", default="")
OIDC_OP_ISSUER = env.str("OIDC_OP_ISSUER", default="")
OIDC_OP_DISCOVERY_URL = env.str(
    "OIDC_OP_DISCOVERY_URL",
    default="" if OIDC_OP_AUTHORIZATION_ENDPOINT else LOCAL_OIDC_DISCOVERY_URL,
)
OIDC_DISCOVERY_CACHE_SECONDS = env.int("OIDC_DISCOVERY_CACHE_SECONDS", default=3600)
OIDC_RP_CLIENT_ID = env.str("OIDC_RP_CLIENT_ID", default="ecomms-local")
OIDC_RP_CLIENT_SECRET = env.str("OIDC_RP_CLIENT_SECRET", default="ecomms-local-secret")
OIDC_RP_SCOPES = env.str("OIDC_RP_SCOPES", default="openid email profile phone")
OIDC_RP_SIGN_ALGO = "RS256"
OIDC_USE_NONCE = True
OIDC_USE_PKCE = True
OIDC_PKCE_CODE_CHALLENGE_METHOD = "S256"
# How far the provider's clock may be from ours: the ID token's exp, iat and nbf are checked
# with this much leeway (an ID token issued further in the future is refused).
OIDC_ID_TOKEN_LEEWAY_SECONDS = env.int("OIDC_ID_TOKEN_LEEWAY_SECONDS", default=60)
# How the gateway authenticates at the provider's token endpoint: client_secret_basic (HTTP
# Basic, the OAuth default) or client_secret_post (in the form). Unset: the first of those the
# discovery document lists (client_secret_basic when it lists none, or without discovery).
OIDC_TOKEN_ENDPOINT_AUTH_METHOD = env.str("OIDC_TOKEN_ENDPOINT_AUTH_METHOD", default="")
if OIDC_TOKEN_ENDPOINT_AUTH_METHOD not in ("", "client_secret_basic", "client_secret_post"):
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        "OIDC_TOKEN_ENDPOINT_AUTH_METHOD must be client_secret_basic or client_secret_post."
    )
# (connect, read) seconds for every call to the provider; the library's default waits forever.
OIDC_TIMEOUT = (
    env.float("OIDC_CONNECT_TIMEOUT_SECONDS", default=3.05),
    env.float("OIDC_READ_TIMEOUT_SECONDS", default=10.0),
)
OIDC_AUTHENTICATE_CLASS = "gateway.identity.oidc.LoginStartView"
OIDC_CALLBACK_CLASS = "gateway.identity.oidc.LoginCallbackView"
OIDC_CREATE_USER = True
AUTHENTICATION_BACKENDS = ["gateway.identity.oidc.SubjectOIDCBackend"]
LOGIN_URL = "/oidc/authenticate/"
LOGIN_REDIRECT_URL = "/auth/token/"
LOGIN_REDIRECT_URL_FAILURE = "/auth/login-failed/"
LOGOUT_REDIRECT_URL = "/"

# Verified emails that get the admin role at login (comma-separated); also see `grant_admin`.
ADMIN_EMAILS = [email.lower() for email in env.list("ADMIN_EMAILS", default=[])]

# --- The gateway's own tokens (djangorestframework-simplejwt) -----------------------------
# PEM private key that signs (JWT_PRIVATE_KEY, or a file holding it: JWT_PRIVATE_KEY_FILE) and
# optionally the previous key (private or public PEM), still published and accepted so tokens
# signed before a rotation stay valid until they expire.
JWT_PRIVATE_KEY = env.str("JWT_PRIVATE_KEY", default="")
JWT_PRIVATE_KEY_FILE = env.str("JWT_PRIVATE_KEY_FILE", default="")
JWT_PREVIOUS_KEY = env.str("JWT_PREVIOUS_KEY", default="")
JWT_PREVIOUS_KEY_FILE = env.str("JWT_PREVIOUS_KEY_FILE", default="")
JWT_ISSUER = env.str("JWT_ISSUER", default="http://127.0.0.1:8000")
JWT_AUDIENCE = env.str("JWT_AUDIENCE", default="ecomms")
# RFC 9068 claims of every access token: the client it is issued to (the gateway's token page
# and refresh endpoint), and the scope it grants (the API; roles say what within it).
JWT_CLIENT_ID = env.str("JWT_CLIENT_ID", default="ecomms-gateway")
JWT_SCOPE = env.str("JWT_SCOPE", default="api")
JWT_ACCESS_TTL_SECONDS = env.int("JWT_ACCESS_TTL_SECONDS", default=300)
JWT_REFRESH_TTL_SECONDS = env.int("JWT_REFRESH_TTL_SECONDS", default=14 * 24 * 3600)
JWT_LEEWAY_SECONDS = env.int("JWT_LEEWAY_SECONDS", default=30)
# Access tokens verified once are remembered (by their exact string, until they expire) so a
# client's next calls skip the signature check; at most this many (0: verify every call).
JWT_VERIFIED_CACHE_SIZE = env.int("JWT_VERIFIED_CACHE_SIZE", default=10_000)
# How often each gateway process asks Redis whether access tokens were denied (logout, account
# disabled, a refresh token reused): the longest a denied token still passes.
TOKEN_DENYLIST_REFRESH_SECONDS = env.float("TOKEN_DENYLIST_REFRESH_SECONDS", default=0.5)

SIMPLE_JWT = {
    "ALGORITHM": "RS256",
    "ISSUER": JWT_ISSUER,
    "AUDIENCE": JWT_AUDIENCE,
    "LEEWAY": JWT_LEEWAY_SECONDS,
    "USER_ID_FIELD": "public_id",
    "USER_ID_CLAIM": "sub",
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    "TOKEN_TYPE_CLAIM": "token_type",
    "JTI_CLAIM": "jti",
}

# --- The entry point: upstream services -------------------------------------------------------
CATALOG_URL = env.str("CATALOG_URL", default="http://127.0.0.1:8001")
ORDERS_URL = env.str("ORDERS_URL", default="http://127.0.0.1:8002")
UPSTREAM_CONNECT_TIMEOUT_SECONDS = env.float("UPSTREAM_CONNECT_TIMEOUT_SECONDS", default=2.0)
UPSTREAM_READ_TIMEOUT_SECONDS = env.float("UPSTREAM_READ_TIMEOUT_SECONDS", default=15.0)
UPSTREAM_POOL_SIZE = env.int("UPSTREAM_POOL_SIZE", default=32)
# Slow clients (gateway.edge.protocol): a request's headers, then its body, must arrive within
# these many seconds or the client gets a 408 and the connection is closed; at most this many
# open connections per client address and worker (0: no cap; trusted proxies are not capped).
EDGE_HEADER_TIMEOUT_SECONDS = env.float("EDGE_HEADER_TIMEOUT_SECONDS", default=10.0)
EDGE_BODY_TIMEOUT_SECONDS = env.float("EDGE_BODY_TIMEOUT_SECONDS", default=30.0)
EDGE_MAX_CONNECTIONS_PER_CLIENT = env.int("EDGE_MAX_CONNECTIONS_PER_CLIENT", default=64)

# --- Rate limiting (limits over Redis; see gateway.ratelimit) ----------------------------------
# Requests per client (the token's subject, else the client address) per window: N/s, N/m, N/h,
# N/d (or N/10s). The login and token paths also have a stricter limit per client address.
RATE_LIMIT = env.str("RATE_LIMIT", default="300/m")
AUTH_RATE_LIMIT = env.str("AUTH_RATE_LIMIT", default="30/m")
RATELIMIT_ENABLE = env.bool("RATELIMIT_ENABLE", default=True)
# The counters live in Redis, shared by every worker and replica. Unreachable, calls pass
# unchecked (logged, counted in gateway_rate_limit_store_errors_total) and the store rests for
# RATE_LIMIT_STORE_RETRY_SECONDS.
RATE_LIMIT_STORE_URL = env.str("RATE_LIMIT_STORE_URL", default="redis://127.0.0.1:6379/0")
RATE_LIMIT_KEY_PREFIX = env.str("RATE_LIMIT_KEY_PREFIX", default="ecomms-gateway-ratelimit")
RATE_LIMIT_STORE_TIMEOUT_SECONDS = env.float("RATE_LIMIT_STORE_TIMEOUT_SECONDS", default=0.05)
RATE_LIMIT_STORE_RETRY_SECONDS = env.float("RATE_LIMIT_STORE_RETRY_SECONDS", default=1.0)
# Proxies (CIDRs, comma-separated) whose X-Forwarded-For / Forwarded / X-Real-IP are believed
# about the client's address; empty: the TCP peer is the client (see gateway.clients).
TRUSTED_PROXY_NETWORKS = env.list("TRUSTED_PROXY_NETWORKS", default=[])
# Largest body of a proxied call, in bytes; larger ones get 413 here. At least the largest body
# a service behind accepts (the catalog's REQUEST_BODY_MAX_BYTES, 32 MiB: a 10,000-product
# upload), so every call it would take passes through. The gateway's own views keep the shared
# REQUEST_BODY_MAX_BYTES (2.5 MB).
PROXY_BODY_MAX_BYTES = env.int("PROXY_BODY_MAX_BYTES", default=32 * 1024 * 1024)

SPECTACULAR_SETTINGS = {
    **SPECTACULAR_SETTINGS,
    "TITLE": "ecomms auth gateway",
    "DESCRIPTION": (
        "The ecomms public API, one origin: login and tokens (served by the gateway), catalog "
        "and orders (proxied to their services)."
    ),
    "SWAGGER_UI_SETTINGS": {"persistAuthorization": True},
}
