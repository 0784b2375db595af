"""Settings every ecomms service shares, all read from the environment.

A service's ``config/settings.py`` star-imports this module, then names itself and its own apps::

    from ecomms_common.base_settings import *  # noqa: F403
    from ecomms_common.base_settings import INSTALLED_APPS

    SERVICE_NAME = "catalog"
    INSTALLED_APPS = [*INSTALLED_APPS, "catalog"]

``DATABASES`` (``DATABASE_URL``'s PostgreSQL) and ``LOGGING`` (JSON lines) come from here. The
plumbing reads ``SERVICE_NAME`` where it needs the name: each log line's ``service``, the traces'
``service.name`` (ecomms_common.tracing), the broker connections' name (ecomms_common.amqp).
"""

import logging
from datetime import datetime
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)
# The key that signs sessions and CSRF tokens: SECRET_KEY, or the contents of SECRET_KEY_FILE
# (compose generates one into a volume). Outside DEBUG a missing, known or weak one stops the
# process at start (secret_key() below); with DEBUG on, a development default stands in.
DEVELOPMENT_SECRET_KEY = "insecure-local-development-key-change-me"  # noqa: S105 - refused without DEBUG
SECRET_KEY_MIN_LENGTH = 50


def secret_key(*, debug: bool) -> str:
    """Return the configured SECRET_KEY; outside DEBUG, refuse a missing, known or weak one.

    Weak is what Django's ``check --deploy`` warns about (security.W009): fewer than 50
    characters, fewer than 5 different ones, or Django's own ``django-insecure-`` prefix. Here it
    stops the process instead, with one line saying how to make a key.
    """
    key = env.str("SECRET_KEY", default="")
    key_file = env.str("SECRET_KEY_FILE", default="")
    if not key and key_file:
        try:
            with open(key_file, encoding="utf-8") as file:
                key = file.read().strip()
        except OSError as error:
            raise ImproperlyConfigured(
                f"SECRET_KEY_FILE={key_file} cannot be read ({error.strerror})."
            ) from None
    if debug:
        return key or DEVELOPMENT_SECRET_KEY
    if not key:
        problem = "is not set"
    elif key == DEVELOPMENT_SECRET_KEY or key.startswith("django-insecure-"):
        problem = "is a published development key"
    elif len(key) < SECRET_KEY_MIN_LENGTH or len(set(key)) < 5:
        problem = f"is too weak ({len(key)} characters, {len(set(key))} different)"
    else:
        return key
    raise ImproperlyConfigured(
        f"SECRET_KEY {problem} and DEBUG is off: set SECRET_KEY (or SECRET_KEY_FILE) to at least "
        f"{SECRET_KEY_MIN_LENGTH} random characters, e.g. the output of "
        "python3 -c 'import secrets; print(secrets.token_urlsafe(50))', or DEBUG=true on a "
        "development machine."
    )


SECRET_KEY = secret_key(debug=DEBUG)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Proxies whose X-Forwarded-*/Forwarded headers are believed (ecomms_common.forwarding): the
# gateway in front of the services, the Ingress in front of the gateway. From any other peer
# those headers are removed before Django reads them, so these two are safe: absolute URLs
# (pagination links, Location) name the origin the client used.
TRUSTED_PROXY_NETWORKS = env.list("TRUSTED_PROXY_NETWORKS", default=["127.0.0.1/32", "::1/128"])
USE_X_FORWARDED_HOST = env.bool("USE_X_FORWARDED_HOST", default=True)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Who may read /metrics and /readyz's details (ecomms_common.health): peers in these networks
# that did not come through a proxy, e.g. Prometheus and the kubelet inside a cluster.
OPS_ALLOWED_NETWORKS = env.list(
    "OPS_ALLOWED_NETWORKS",
    default=["127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"],
)

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_guid",
    "django_prometheus",
    "ecomms_common",
]

MIDDLEWARE = [
    # First: nothing may read a forwarded header before untrusted ones are gone.
    "ecomms_common.forwarding.ForwardedHeadersMiddleware",
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django_guid.middleware.guid_middleware",
    "ecomms_common.errors.RequestBodyLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "ecomms_common.middleware.CommonMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

STATIC_URL = "static/"
# Where collectstatic writes (container images set it); unset, WhiteNoise serves the API docs'
# assets straight from the installed apps.
STATIC_ROOT = env.str("STATIC_ROOT", default=None)
WHITENOISE_USE_FINDERS = env.bool("WHITENOISE_USE_FINDERS", default=True)

# Largest request body accepted, in bytes; larger ones get 413 before anything reads them.
REQUEST_BODY_MAX_BYTES = env.int("REQUEST_BODY_MAX_BYTES", default=2_621_440)
DATA_UPLOAD_MAX_MEMORY_SIZE = REQUEST_BODY_MAX_BYTES
CSRF_FAILURE_VIEW = "ecomms_common.errors.csrf_failure"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["ecomms_common.auth.JWTAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "ecomms_common.errors.exception_handler",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
}

SPECTACULAR_SETTINGS = {
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Request and response schemas apart (a generated client reads required fields right), and
    # one Error component on every error status (ecomms_common.openapi).
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "ecomms_common.openapi.document_errors",
    ],
}

# Correlation id: accepted from X-Request-ID when it is a UUID, generated otherwise, echoed back.
DJANGO_GUID = {
    "GUID_HEADER_NAME": "X-Request-ID",
    "VALIDATE_GUID": True,
    "UUID_FORMAT": "string",
}


def _instant(name: str, *, default: str) -> datetime | None:
    text = env.str(name, default=default)
    if not text:
        return None
    try:
        instant = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an ISO 8601 date and time: {exc}") from exc
    if instant.tzinfo is None:
        raise ImproperlyConfigured(f"{name} must name its UTC offset (e.g. +00:00).")
    return instant


# Verifying the gateway's access tokens (see ecomms_common.auth).
# AUTH_ISSUER alone is enough: without AUTH_JWKS_URL, the keys are where the issuer's RFC 8414
# metadata (AUTH_ISSUER/.well-known/oauth-authorization-server) says. Set AUTH_JWKS_URL when the
# gateway is reached by another address inside the cluster than its public issuer URL.
AUTH_ISSUER = env.str("AUTH_ISSUER", default="http://127.0.0.1:8000")
AUTH_JWKS_URL = env.str("AUTH_JWKS_URL", default="")
AUTH_AUDIENCE = env.str("AUTH_AUDIENCE", default="ecomms")
AUTH_LEEWAY_SECONDS = env.int("AUTH_LEEWAY_SECONDS", default=30)
# Tokens of the gateway issued before this instant (ISO 8601 with its offset) may carry the
# legacy header typ JWT; later ones must be RFC 9068 access tokens (typ at+jwt). The default is
# the release that made them so; set the gateway's roll-out time when that was later, or "" to
# accept no legacy token.
AUTH_LEGACY_TOKENS_ISSUED_BEFORE = _instant(
    "AUTH_LEGACY_TOKENS_ISSUED_BEFORE", default="2026-12-07T02:45:00+00:00"
)
AUTH_JWKS_CACHE_SECONDS = env.int("AUTH_JWKS_CACHE_SECONDS", default=300)
AUTH_JWKS_REFETCH_COOLDOWN_SECONDS = env.float("AUTH_JWKS_REFETCH_COOLDOWN_SECONDS", default=10.0)
AUTH_JWKS_TIMEOUT_SECONDS = env.float("AUTH_JWKS_TIMEOUT_SECONDS", default=3.0)

AMQP_URL = env.str("AMQP_URL", default="amqp://guest:guest@127.0.0.1:5672/")

# Event topology (ARCHITECTURE.md "Events"). Names are settings so that tests can use their own.
# Each consumer declares its own queues (see ecomms_common.amqp); none is named here.
EVENTS_EXCHANGE = env.str("EVENTS_EXCHANGE", default="ecomms.events")
DEAD_LETTER_EXCHANGE = env.str("DEAD_LETTER_EXCHANGE", default="ecomms.dlx")
# How long a publish or a blocked connection (broker resource alarm) may stall before we reconnect.
AMQP_BLOCKED_TIMEOUT_SECONDS = env.float("AMQP_BLOCKED_TIMEOUT_SECONDS", default=10.0)
AMQP_HEARTBEAT_SECONDS = env.int("AMQP_HEARTBEAT_SECONDS", default=30)

# Outbox relay (``python manage.py relay_outbox``).
OUTBOX_NOTIFY_CHANNEL = env.str("OUTBOX_NOTIFY_CHANNEL", default="ecomms_outbox")
OUTBOX_BATCH_SIZE = env.int("OUTBOX_BATCH_SIZE", default=100)
# Longest wait between two looks at the table: new rows wake the relay at once (LISTEN/NOTIFY).
OUTBOX_POLL_SECONDS = env.float("OUTBOX_POLL_SECONDS", default=1.0)
OUTBOX_RETRY_MAX_SECONDS = env.float("OUTBOX_RETRY_MAX_SECONDS", default=30.0)
# A row RabbitMQ returns as unroutable (no queue bound) this many times is parked, not retried:
# listed and requeued with `manage.py outbox_parked`.
OUTBOX_UNROUTABLE_MAX_ATTEMPTS = env.int("OUTBOX_UNROUTABLE_MAX_ATTEMPTS", default=5)
# Where the relay serves its service's /healthz, /readyz and /metrics (ecomms_outbox_* among them):
# this port, else the process's PORT (an image's, so its HEALTHCHECK holds), else nowhere.
OUTBOX_RELAY_METRICS_PORT = env.int("OUTBOX_RELAY_METRICS_PORT", default=env.int("PORT", default=0))
OUTBOX_RELAY_METRICS_HOST = env.str("OUTBOX_RELAY_METRICS_HOST", default="0.0.0.0")  # noqa: S104

# What /readyz checks: names from ecomms_common.health.CHECKS.
READINESS_CHECKS = ["database"]
READINESS_TIMEOUT_SECONDS = env.float("READINESS_TIMEOUT_SECONDS", default=2.0)


POSTGRESQL_ENGINE = "django.db.backends.postgresql"


def database() -> dict[str, Any]:
    """Return the ``default`` database: the PostgreSQL database ``DATABASE_URL`` names.

    Every service runs on PostgreSQL only, locally too (``make up`` starts one and sets the
    variable), so a missing or other URL stops the process at start with what to set.
    """
    url = env.str("DATABASE_URL", default="")
    if not url:
        raise ImproperlyConfigured(
            "DATABASE_URL is not set: this service needs a PostgreSQL database, e.g. "
            "DATABASE_URL=postgres://postgres@127.0.0.1:5432/<database> "
            "(`make up` starts a local PostgreSQL and sets it for every process)."
        )
    config = env.db_url_config(url)
    if config.get("ENGINE") != POSTGRESQL_ENGINE:
        scheme = url.split(":", 1)[0]
        raise ImproperlyConfigured(
            f"DATABASE_URL must name a PostgreSQL database (postgres://...), not {scheme!r}."
        )
    config.setdefault("OPTIONS", {}).setdefault("connect_timeout", 3)
    config["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    config["CONN_HEALTH_CHECKS"] = True
    return config


def logging_config(*, service: str | None = None) -> dict[str, Any]:
    """Return a LOGGING dict: one JSON object per line, with the service and the request id.

    ``service`` names the service in each line; None: the settings' ``SERVICE_NAME``, read when
    Django configures logging (once every setting is loaded).
    """
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "request_id": {
                "()": "django_guid.log_filters.CorrelationId",
                "correlation_id_field": "request_id",
            }
        },
        "formatters": {
            "json": {
                "()": "ecomms_common.base_settings.json_log_formatter",
                "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
                "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
                "service": service,
            }
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "filters": ["request_id"],
            }
        },
        "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
        "loggers": {
            # django-guid logs every header it sees at INFO.
            "django_guid": {"level": "WARNING"},
        },
    }


def json_log_formatter(*, service: str | None, **options: Any) -> logging.Formatter:
    """Return the JSON formatter of ``logging_config``; ``service`` None: ``SERVICE_NAME``."""
    from django.conf import settings
    from pythonjsonlogger.json import JsonFormatter

    return JsonFormatter(**options, static_fields={"service": service or settings.SERVICE_NAME})


DATABASES = {"default": database()}
LOGGING = logging_config()
