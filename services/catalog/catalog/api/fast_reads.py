"""The catalog's hot reads answered at the WSGI layer, ahead of Django's request handling.

A read of the catalog costs a few indexed lookups; through Django's middleware, URL resolver,
DRF's request, negotiation and response classes it costs about twice that. :class:`FastReads`
answers the plain successful reads of a few routes itself (``average_price``, a product's
detail, a page of products: each route says how, beside its view) with the same status, body
and headers as Django, and passes everything else to Django, which owns every error.

It fails closed: a route answers nothing, and Django answers every read, when the setting of
its fast path is off or ``MIDDLEWARE`` is not exactly :data:`VERIFIED_MIDDLEWARE` (with tracing
on, that list behind the Django instrumentation's middleware: the reads answered here then make
the SERVER span that middleware would have made, ``ecomms_common.tracing.django_server_span``).
"""

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from django.conf import settings
from django.core import signals
from django.core.exceptions import DisallowedHost
from django.core.handlers.wsgi import WSGIRequest
from django.db import DatabaseError, close_old_connections
from django.http import HttpRequest, HttpResponse
from django.middleware.security import SecurityMiddleware
from django_guid.config import settings as guid_settings
from django_guid.context import guid
from django_guid.utils import generate_guid, validate_guid
from opentelemetry.instrumentation.utils import suppress_instrumentation
from rest_framework.exceptions import APIException

from catalog.api.caching import CACHE_CONTROL, body_etag, is_cacheable_read
from ecomms_common import tracing
from ecomms_common.forwarding import carries_forwarding, peer_is_trusted_proxy

logger = logging.getLogger(__name__)

# The middleware the fast paths were checked against, in order: for a successful read they
# answer as this list would (SecurityMiddleware's headers, django-guid's request id; WhiteNoise
# serves no such path, ecomms_common's CommonMiddleware only differs from Django's in its slash
# redirect (308), which never applies to a path ending in a slash, and adds Content-Length; a
# read with a body, PREPEND_WWW and DISALLOWED_USER_AGENTS go to Django), counted in their own
# histograms instead of django_prometheus's. With any other list every read goes to Django:
# check what each change does to a successful read, make the fast paths do the same or pass the
# read on, then update this list (tests/test_average_price_fast_path.py pins it to the
# settings). ForwardedHeadersMiddleware removes forwarding headers an untrusted peer sent; such
# a read goes to Django, which does, so the host check here only ever sees headers a trusted
# proxy wrote.
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
# What DRF's content negotiation answers with JSON, as its only renderer, at no indent: any
# other Accept header (a media type it refuses with 406, an ``indent`` parameter) goes to Django.
PLAIN_ACCEPTS = frozenset(("*/*", "application/json"))

Headers = list[tuple[str, str]]


class Read:
    """One read a route may answer: its environ, what its path names, its query (the last value
    of each name, as Django's ``request.GET.get``)."""

    __slots__ = ("_request", "argument", "environ", "params")

    def __init__(self, environ: dict, argument: str, params: Mapping[str, str]) -> None:
        self.environ, self.argument, self.params = environ, argument, params
        self._request: WSGIRequest | None = None

    @property
    def request(self) -> WSGIRequest:
        """Django's request of this read (for absolute URLs), made when first asked for."""
        if self._request is None:
            # a copy: WSGIRequest writes PATH_INFO and SCRIPT_NAME back into its environ
            self._request = WSGIRequest(dict(self.environ))
        return self._request


@dataclass(frozen=True)
class FastRoute:
    """One route answered ahead of Django.

    ``match`` returns what a path names (a slug, an id; "" for nothing) or None when the path
    is not this route's. ``answer`` returns the body of the successful read and the headers its
    view adds (DRF's ``Allow``), or None to pass the read to Django. ``names`` are the query
    parameters it reads (a read with any other goes to Django; None: any). ``negotiated``: a
    DRF view, which authenticates (a read with ``Authorization`` goes to Django) and negotiates
    (only :data:`PLAIN_ACCEPTS`). A longer query than ``max_query`` characters goes to Django.
    """

    route: str  # Django's route: the span's name and http.route
    match: Callable[[str], str | None]
    answer: Callable[[Read], tuple[bytes, Headers] | None]
    observe: Callable[[float], None]
    names: frozenset[str] | None = None
    negotiated: bool = False
    max_query: int = 200


@dataclass(frozen=True)
class FastPath:
    """Routes switched on and off together by one setting, which log through ``logger``."""

    setting: str
    logger: logging.Logger
    routes: tuple[FastRoute, ...]
    description: str = ""  # what the log lines call it


class FastReads:
    """WSGI middleware answering the successful reads of its routes without Django's handling.

    For ``GET`` or ``HEAD`` of a route, it manages the database connection as Django's request
    signals do (``close_old_connections`` before and after; their other receivers have nothing
    to do for these reads), calls the route's answer, and answers with the headers Django's
    middleware would add, in the order Django sends them: for an anonymous read ``ETag`` and
    ``Cache-Control`` (catalog.api.caching), ``Content-Length``, the security headers, the
    request id (kept from ``X-Request-ID`` when valid, else a new one). Anything else is
    passed to the wrapped application, unchanged: other paths and methods, a read the route
    refuses or finds nothing for, a host not in ``ALLOWED_HOSTS``, ``If-None-Match``, a body,
    forwarding headers from a peer that is no trusted proxy, an invalid request id, a database
    error. The read is then made again by the view, which owns every error answer, its log line
    and its metrics.

    A fast path whose setting is off, or every one when ``MIDDLEWARE`` is not the verified list,
    passes its reads on, having said why once.
    """

    def __init__(self, application: Callable, paths: Sequence[FastPath]) -> None:
        self.application = application
        self.paths = tuple(paths)
        self.request_id_key = "HTTP_" + guid_settings.guid_header_name.upper().replace("-", "_")
        self.allowed_hosts: set[tuple] = set()
        self.headers: Headers | None = None
        self.routes: tuple[FastRoute, ...] = ()
        self.traced = False
        self._configure()
        signals.setting_changed.connect(self._settings_changed)

    @property
    def enabled(self) -> bool:
        """Whether any read is answered here."""
        return bool(self.routes)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD")
        if self.routes and method in ("GET", "HEAD"):
            path = environ.get("PATH_INFO", "")
            for route in self.routes:
                argument = route.match(path)
                if argument is None:
                    continue
                started, start_time = time.perf_counter(), time.time_ns()
                # Traced, its queries make no spans: the read's own span is made once it is
                # answered (Django makes its own when the read is passed on), so theirs would
                # each start a trace of their own.
                with suppress_instrumentation() if self.traced else nullcontext():
                    answer = self._answer(environ, route, argument)
                if answer is not None:
                    status, headers, body = answer
                    if self.traced:
                        headers += self._span(environ, route, status, headers, start_time)
                    start_response(status, headers)
                    route.observe(time.perf_counter() - started)
                    return [body] if method == "GET" else []
                break
        return self.application(environ, start_response)

    def _answer(self, environ: dict, route: FastRoute, argument: str) -> tuple | None:
        """Return the status, headers and body of a successful read, or None to pass it on."""
        query = environ.get("QUERY_STRING", "")
        headers = self._headers()
        if (
            headers is None
            # a body, whatever its size, is RequestBodyLimitMiddleware's to judge
            or environ.get("CONTENT_LENGTH") not in (None, "", "0")
            # ForwardedHeadersMiddleware's to strip: Django must not see them here first
            or (carries_forwarding(environ) and not peer_is_trusted_proxy(environ))
            or not (query.isascii() and len(query) <= route.max_query)
            or (
                route.negotiated
                and (
                    "HTTP_AUTHORIZATION" in environ
                    or environ.get("HTTP_ACCEPT", "*/*") not in PLAIN_ACCEPTS
                )
            )
            or not self._host_allowed(environ)
            # a conditional read may be a 304: catalog.api.caching's to judge, through Django
            or "HTTP_IF_NONE_MATCH" in environ
        ):
            return None
        params = dict(parse_qsl(query, keep_blank_values=True)) if query else {}
        if route.names is not None and not route.names.issuperset(params):
            return None
        request_id = environ.get(self.request_id_key)
        if request_id is None:
            request_id = generate_guid()
        elif not validate_guid(request_id):
            return None  # django-guid logs it and makes a new one
        # What Django's request signals do for this read, without their dispatch (about 50 us a
        # read through gunicorn): drop a connection that is too old or broken, before and after
        close_old_connections()
        token = guid.set(request_id)
        try:
            answer = route.answer(Read(environ, argument, params))
        except (DatabaseError, APIException):
            answer = None  # the view meets it again and answers, or succeeds
        except Exception:
            logger.exception("The fast path of %s failed; Django answers instead.", route.route)
            answer = None
        finally:
            guid.reset(token)
            close_old_connections()
        if answer is None:
            return None
        body, view_headers = answer
        caching = []
        if is_cacheable_read(environ.get("REQUEST_METHOD"), 200, environ):
            caching = [("ETag", body_etag(body)), ("Cache-Control", CACHE_CONTROL)]
        return (
            "200 OK",
            [
                ("Content-Type", "application/json"),
                *view_headers,
                *caching,
                ("Content-Length", str(len(body))),
                *headers,
                *self._request_id_headers(request_id),
            ],
            body,
        )

    def _span(
        self, environ: dict, route: FastRoute, status: str, headers: Headers, start_time: int
    ) -> Headers:
        """Record the read's SERVER span as the Django instrumentation would; return the
        headers it adds (none unless a response propagator is set)."""
        try:
            return tracing.django_server_span(
                environ,
                route=route.route,
                status=status,
                headers=headers,
                start_time=start_time,
            )
        except Exception:
            logger.exception("The span of a read answered ahead of Django was not recorded.")
            return []

    def _headers(self) -> Headers | None:
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

    def _request_id_headers(self, request_id: str) -> Headers:
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

    def _configure(self) -> None:
        """Choose the routes answered here; for each fast path that answers none, log why, once."""
        middleware = list(settings.MIDDLEWARE)
        traced = bool(middleware) and middleware[0] == tracing.DJANGO_MIDDLEWARE
        if traced:
            middleware = middleware[1:]
        verified = middleware == list(VERIFIED_MIDDLEWARE)
        routes: list[FastRoute] = []
        for path in self.paths:
            if not getattr(settings, path.setting):
                path.logger.info(
                    "The %s fast path is off (%s); Django answers every read.",
                    path.description,
                    path.setting,
                )
            elif not verified:
                path.logger.warning(
                    "The %s fast path is off: MIDDLEWARE is not the list it was verified "
                    "against (catalog.api.fast_reads.VERIFIED_MIDDLEWARE); Django answers every "
                    "read. Re-verify the fast path against the new list, then update that "
                    "constant.",
                    path.description,
                )
            else:
                routes.extend(path.routes)
        self.routes, self.traced = tuple(routes), traced and bool(routes)

    def _settings_changed(self, *, setting: str, **kwargs: Any) -> None:
        self.allowed_hosts.clear()
        self.headers = None
        if setting == "MIDDLEWARE" or setting in {path.setting for path in self.paths}:
            self._configure()
