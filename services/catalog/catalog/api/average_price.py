"""``GET /categories/{slug}/average_price/``: the catalog's hottest read, and its fast path.

The read is one indexed lookup of the maintained aggregates (catalog.selectors). Through Django's
middleware, URL resolver and response classes it costs about twice the lookup, so
:class:`AveragePriceFastPath` answers the plain successful read ahead of them, at the WSGI layer.
Everything else goes to :func:`average_price`, the Django view, which also owns every error.

The fast path fails closed: it answers nothing, and Django answers every read, when
``CATALOG_AVERAGE_PRICE_FAST_PATH`` is off or when ``MIDDLEWARE`` is not exactly
:data:`VERIFIED_MIDDLEWARE`, the list it was checked against.
"""

import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from django.conf import settings
from django.core import signals
from django.core.exceptions import DisallowedHost
from django.db import DatabaseError, close_old_connections
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.security import SecurityMiddleware
from django_guid.config import settings as guid_settings
from django_guid.context import guid
from django_guid.utils import generate_guid, validate_guid
from prometheus_client import Histogram
from rest_framework.fields import BooleanField

from catalog import selectors
from catalog.api.caching import CACHE_CONTROL, body_etag, cached_read, is_cacheable_read
from catalog.validation import clean_currency
from ecomms_common.errors import INVALID_MESSAGE, error_response
from ecomms_common.forwarding import carries_forwarding, peer_is_trusted_proxy

logger = logging.getLogger(__name__)

PATH_PREFIX, PATH_SUFFIX = "/categories/", "/average_price/"
# The middleware the fast path was checked against, in order: for a successful read it answers as
# this list would (SecurityMiddleware's headers, django-guid's request id; WhiteNoise serves no
# such path, ecomms_common's CommonMiddleware only differs from Django's in its slash redirect
# (308), which never applies to a path ending in a slash; a read with a body, PREPEND_WWW and
# DISALLOWED_USER_AGENTS go to Django), counted in its own histogram instead of
# django_prometheus's. With any other list every read goes to Django: check what each change does
# to a successful read, make the fast path do the same or pass the read on, then update this list
# (tests/test_average_price_fast_path.py pins it to the settings). ForwardedHeadersMiddleware
# removes forwarding headers an untrusted peer sent; such a read goes to Django, which does, so
# the host check here only ever sees headers a trusted proxy wrote.
VERIFIED_MIDDLEWARE = (
    "ecomms_common.forwarding.ForwardedHeadersMiddleware",
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django_guid.middleware.guid_middleware",
    "ecomms_common.errors.RequestBodyLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "ecomms_common.middleware.CommonMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
)
ANSWERED = Histogram(
    "catalog_average_price_fast_path_seconds",
    "Time to answer the average_price reads answered ahead of Django (the others, errors "
    "included, are counted by Django's django_http_* metrics).",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1),
)


def average_price_query(params: Mapping[str, str]) -> tuple[str, bool, dict[str, list[str]]]:
    """Return the currency and include_descendants a query asks for, and its errors by field."""
    errors = {}
    currency = params.get("currency", settings.CATALOG_DEFAULT_CURRENCY)
    try:
        currency = clean_currency(currency)
    except ValueError as exc:
        errors["currency"] = [str(exc)]
    include = params.get("include_descendants")
    include_descendants = True
    if include is not None:
        include = include.lower()  # DRF's boolean spellings, in any case, as its BooleanField
        if include in BooleanField.FALSE_VALUES:
            include_descendants = False
        elif include not in BooleanField.TRUE_VALUES:
            errors["include_descendants"] = ["Must be a valid boolean."]
    return currency, include_descendants, errors


def average_price_payload(result: selectors.AveragePrice) -> dict[str, Any]:
    """Return the spec's response body for one answer."""
    average = result.average_price
    return {
        "category": result.category,
        "average_price": float(average) if average is not None else None,
        "currency": result.currency,
        "product_count": result.product_count,
        "include_descendants": result.include_descendants,
    }


def average_price(request: HttpRequest, slug: str) -> JsonResponse:
    """Answer ``GET /categories/{slug}/average_price/`` (the reads the fast path passes on).

    A plain Django view rather than a DRF one: DRF's request wrapping, negotiation and rendering
    cost about a third of this read's CPU time, for a public GET with one answer shape. Errors
    keep the common JSON shape; the OpenAPI description is in catalog.api.schema.
    """
    if request.method not in ("GET", "HEAD"):
        response = error_response(
            405, "method_not_allowed", f'Method "{request.method}" not allowed.'
        )
        response["Allow"] = "GET, HEAD"
        return response
    currency, include_descendants, errors = average_price_query(request.GET)
    if errors:
        return error_response(400, "invalid", INVALID_MESSAGE, **errors)
    result = selectors.category_average_price(
        slug=slug, currency=currency, include_descendants=include_descendants
    )
    if result is None:
        return error_response(404, "not_found", f"No category has the slug {slug!r}.")
    return cached_read(request, JsonResponse(average_price_payload(result)))


class AveragePriceFastPath:
    """WSGI middleware answering successful average_price reads without Django's request handling.

    For ``GET`` or ``HEAD`` of an existing category with valid parameters, it manages the
    database connection as Django's request signals do (``close_old_connections`` before and
    after; their other receivers have nothing to do for this read), runs the same selector as
    the view, and answers with the same body and the headers Django's middleware would add: the
    security headers, the request id (kept from ``X-Request-ID`` when valid, else a new one),
    ``Content-Length``, and for an anonymous read ``ETag`` and ``Cache-Control``
    (catalog.api.caching). Anything else is passed to the wrapped application,
    unchanged: other paths and methods, an unknown slug, a parameter the view would refuse, a
    host not in ``ALLOWED_HOSTS``, ``If-None-Match``, forwarding headers from a peer that is no
    trusted proxy, an invalid request id, a database error. The read is then
    made again by the view, which owns every error answer, its log line and its metrics.

    It passes every request on, having said why once, when ``CATALOG_AVERAGE_PRICE_FAST_PATH`` is
    off or ``MIDDLEWARE`` differs from :data:`VERIFIED_MIDDLEWARE`.
    """

    def __init__(self, application: Callable) -> None:
        self.application = application
        self.request_id_key = "HTTP_" + guid_settings.guid_header_name.upper().replace("-", "_")
        self.allowed_hosts: set[tuple] = set()
        self.headers: list[tuple[str, str]] | None = None
        self.enabled = self._enabled()
        signals.setting_changed.connect(self._settings_changed)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD")
        if (
            self.enabled
            and path.startswith(PATH_PREFIX)
            and path.endswith(PATH_SUFFIX)
            and method in ("GET", "HEAD")
        ):
            started = time.perf_counter()
            answer = self._answer(environ, path[len(PATH_PREFIX) : -len(PATH_SUFFIX)])
            if answer is not None:
                status, headers, body = answer
                start_response(status, headers)
                ANSWERED.observe(time.perf_counter() - started)
                return [body] if method == "GET" else []
        return self.application(environ, start_response)

    def _answer(self, environ: dict, slug: str) -> tuple[str, list, bytes] | None:
        """Return the status, headers and body of a successful read, or None to pass it on."""
        query = environ.get("QUERY_STRING", "")
        headers = self._headers()
        if (
            headers is None
            # a body, whatever its size, is RequestBodyLimitMiddleware's to judge
            or environ.get("CONTENT_LENGTH") not in (None, "", "0")
            # ForwardedHeadersMiddleware's to strip: Django must not see them here first
            or (carries_forwarding(environ) and not peer_is_trusted_proxy(environ))
            or not slug.isascii()
            or "/" in slug
            or not (query.isascii() and len(query) <= 200)
            or not self._host_allowed(environ)
            # a conditional read may be a 304: catalog.api.caching's to judge, through Django
            or "HTTP_IF_NONE_MATCH" in environ
        ):
            return None
        request_id = environ.get(self.request_id_key)
        if request_id is None:
            request_id = generate_guid()
        elif not validate_guid(request_id):
            return None  # django-guid logs it and makes a new one
        currency, include_descendants, errors = average_price_query(
            dict(parse_qsl(query, keep_blank_values=True)) if query else {}
        )
        if errors:
            return None
        # What Django's request signals do for this read, without their dispatch (about 50 us a
        # read through gunicorn): drop a connection that is too old or broken, before and after
        close_old_connections()
        token = guid.set(request_id)
        try:
            result = selectors.category_average_price(
                slug=slug, currency=currency, include_descendants=include_descendants
            )
        except DatabaseError:
            result = None  # the view meets it again and answers 503, or succeeds
        except Exception:
            logger.exception("The average_price fast path failed; Django answers instead.")
            result = None
        finally:
            guid.reset(token)
            close_old_connections()
        if result is None:
            return None
        body = json.dumps(average_price_payload(result)).encode()
        caching = []
        if is_cacheable_read(environ.get("REQUEST_METHOD"), 200, environ):
            caching = [("ETag", body_etag(body)), ("Cache-Control", CACHE_CONTROL)]
        return (
            "200 OK",
            [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(body))),
                *caching,
                *headers,
                *self._request_id_headers(request_id),
            ],
            body,
        )

    def _headers(self) -> list[tuple[str, str]] | None:
        """Return the headers SecurityMiddleware adds to every answer here, or None if they vary.

        They are taken from the middleware itself, once: HSTS and the HTTPS redirect depend on
        the request, so with either enabled every read goes to Django; so it does when
        django-guid has integrations to run or URLs to ignore, or when CommonMiddleware may
        redirect (PREPEND_WWW) or refuse (DISALLOWED_USER_AGENTS) a read.
        """
        if self.headers is None:
            if (
                settings.SECURE_SSL_REDIRECT
                or settings.SECURE_HSTS_SECONDS
                or settings.PREPEND_WWW
                or settings.DISALLOWED_USER_AGENTS
                or guid_settings.integrations
                or guid_settings.ignore_urls
            ):
                return None
            probe, before = HttpRequest(), HttpResponse()
            added = set(before.headers)
            after = SecurityMiddleware(lambda request: before).process_response(probe, before)
            self.headers = [(name, value) for name, value in after.items() if name not in added]
        return self.headers

    def _request_id_headers(self, request_id: str) -> list[tuple[str, str]]:
        if not guid_settings.return_header:
            return []
        headers = [(guid_settings.guid_header_name, request_id)]
        if guid_settings.expose_header:
            headers.append(("Access-Control-Expose-Headers", guid_settings.guid_header_name))
        return headers

    def _host_allowed(self, environ: dict) -> bool:
        """Return whether Django would accept this request's host (remembering those it does)."""
        # without a Host header, Django builds the host from the server's name and port
        key = (environ.get("HTTP_X_FORWARDED_HOST"), environ.get("HTTP_HOST"))
        if key[1] is not None and key in self.allowed_hosts:
            return True
        request = HttpRequest()
        request.META = environ
        try:
            request.get_host()
        except DisallowedHost:
            return False
        if key[1] is not None:
            if len(self.allowed_hosts) >= 64:
                self.allowed_hosts.clear()
            self.allowed_hosts.add(key)
        return True

    def _enabled(self) -> bool:
        """Return whether to answer reads here at all; if not, log why, once."""
        if not settings.CATALOG_AVERAGE_PRICE_FAST_PATH:
            logger.info(
                "The average_price fast path is off (CATALOG_AVERAGE_PRICE_FAST_PATH); "
                "Django answers every read."
            )
            return False
        if list(settings.MIDDLEWARE) != list(VERIFIED_MIDDLEWARE):
            logger.warning(
                "The average_price fast path is off: MIDDLEWARE is not the list it was verified "
                "against (catalog.api.average_price.VERIFIED_MIDDLEWARE); Django answers every "
                "read. Re-verify the fast path against the new list, then update that constant."
            )
            return False
        return True

    def _settings_changed(self, *, setting: str, **kwargs: Any) -> None:
        self.allowed_hosts.clear()
        self.headers = None
        if setting in ("CATALOG_AVERAGE_PRICE_FAST_PATH", "MIDDLEWARE"):
            self.enabled = self._enabled()
