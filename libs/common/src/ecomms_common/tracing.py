"""OpenTelemetry traces for every process, configured by the standard ``OTEL_*`` variables only.

Off unless ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) is set,
and off whenever ``OTEL_SDK_DISABLED=true``. On, :func:`tracing_setup` installs the SDK's tracer
provider with a batching OTLP/HTTP (protobuf) exporter, the sampler of ``OTEL_TRACES_SAMPLER``
(parent-based, always on, by default) and ``service.name`` = ``OTEL_SERVICE_NAME`` or the service's
own name, then the maintained instrumentations of what the process has: Django (server spans,
the W3C ``traceparent`` continued), requests (client spans, context injected), psycopg.

Each web service's ``config/wsgi.py`` (``asgi.py`` for the gateway) calls it before Django builds
its middleware chain; gunicorn imports that module in each worker after the fork, so the
exporter's thread runs in the worker (and the SDK restarts it in a child forked later).
``worker_exit`` (``ecomms_common.gunicorn``) flushes what is left. The long-running commands
(``relay_outbox``, ``consume``) call it as they start.

Off, nothing here does any work in a request: the helpers below check :func:`tracing_enabled`
(a module flag) first, and no instrumentation is installed.
"""

import contextlib
import functools
import logging
import os
import re
from collections.abc import Iterator, Mapping
from typing import Any

from opentelemetry import context, propagate, trace
from opentelemetry.trace import Span, SpanKind

logger = logging.getLogger(__name__)

TRACER_NAME = "ecomms"
PROBE_PATHS = "/healthz,/readyz,/metrics"
# What the Django instrumentation puts first in MIDDLEWARE when it is installed.
DJANGO_MIDDLEWARE = (
    "opentelemetry.instrumentation.django.middleware.otel_middleware._DjangoMiddleware"
)
_enabled = False
_provider: Any = None
_CAPTURED_REQUEST_HEADERS = "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST"
_CAPTURED_RESPONSE_HEADERS = "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_RESPONSE"
_tracer_of: tuple[Any, trace.Tracer] | None = None  # (provider, its tracer), see tracer()


def tracing_configured() -> bool:
    """Whether the environment asks for traces: an OTLP endpoint, and the SDK not disabled."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return bool(
        os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def tracing_enabled() -> bool:
    """Whether this process exports traces (``tracing_setup`` ran with tracing configured)."""
    return _enabled


def tracing_setup(*, service_name: str | None = None, database: bool = True) -> bool:
    """Install the tracer provider and the instrumentations once per process; return whether
    tracing is on. ``service_name`` defaults to Django's ``settings.SERVICE_NAME``; with
    ``database=False`` (a process that polls its database) queries make no spans."""
    if _enabled or not tracing_configured():
        return _enabled
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    if service_name is None:
        from django.conf import settings

        service_name = settings.SERVICE_NAME
    resource = Resource.create({SERVICE_NAME: os.environ.get("OTEL_SERVICE_NAME") or service_name})
    # The SDK reads the sampler from OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG, the batch
    # sizes from OTEL_BSP_*, the endpoint, headers and timeout from OTEL_EXPORTER_OTLP_*.
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    tracing_use(provider)
    _instrument(database=database)
    logger.info("tracing on: spans of %s go to OTLP/HTTP", resource.attributes[SERVICE_NAME])
    return True


def tracing_use(provider: Any) -> None:
    """Make ``provider`` the one this module's spans go to, and put ``trace_id`` and ``span_id``
    on every log record written inside a span (the JSON log lines show them)."""
    global _enabled, _provider
    _provider, _enabled = provider, True
    previous = logging.getLogRecordFactory()
    if not getattr(previous, "adds_trace_ids", False):
        logging.setLogRecordFactory(_record_factory(previous))


def _record_factory(previous: Any) -> Any:
    def record_with_trace_ids(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        span_context = trace.get_current_span().get_span_context()
        if span_context.is_valid:
            # Hex, as exporters and trace viewers write them.
            record.trace_id = format(span_context.trace_id, "032x")
            record.span_id = format(span_context.span_id, "016x")
        return record

    record_with_trace_ids.adds_trace_ids = True
    return record_with_trace_ids


def _instrument(*, database: bool) -> None:
    """Install the instrumentations of the libraries this process has, less those named in
    ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS`` (``psycopg``, ``django``, ``requests``)."""
    disabled = {
        name.strip()
        for name in os.environ.get("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "").split(",")
    }
    if database and "psycopg" not in disabled:
        from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor

        # No SQL commenter: statements keep their text, so prepared statements stay shared.
        PsycopgInstrumentor().instrument(enable_commenter=False, skip_dep_check=True)
    if "django" not in disabled:
        from opentelemetry.instrumentation.django import DjangoInstrumentor

        # Probes and scrapes, every few seconds, would each be a trace of their own.
        chosen = os.environ.get("OTEL_PYTHON_DJANGO_EXCLUDED_URLS") or os.environ.get(
            "OTEL_PYTHON_EXCLUDED_URLS"
        )
        DjangoInstrumentor().instrument(
            is_sql_commentor_enabled=False, excluded_urls=None if chosen else PROBE_PATHS
        )
    if "requests" not in disabled:
        from opentelemetry.instrumentation.requests import RequestsInstrumentor

        RequestsInstrumentor().instrument()


def django_server_span(
    environ: dict, *, route: str, status: str, headers: list[tuple[str, str]], start_time: int
) -> list[tuple[str, str]]:
    """Record the SERVER span the Django instrumentation would make, for a request answered
    ahead of Django's middleware (e.g. a WSGI fast path); return the headers to add to the answer.

    ``environ`` is the request's WSGI environ, ``route`` the route Django would have matched,
    ``status`` and ``headers`` the answer's, ``start_time`` when the request arrived (ns). The
    span has the instrumentation's tracer, name (``GET <route>``), kind, parent (the context the
    request's headers carry), status, excluded URLs, traced request attributes and captured
    headers. Its attributes are six of Django's thirteen, with Django's names (in the semantic
    conventions the instrumentation is set to) and values: method, scheme, target (path and
    query), peer address, route and status; left out are host, host name and port, server name,
    peer port, user agent and protocol version. With all thirteen the span took 73-76 us to make
    and 49 to encode, with the six 42-46 and 33 (in process). Nothing is recorded when the
    Django instrumentation is not installed.
    """
    if not _enabled:
        return []
    _semconv, _DjangoMiddleware, propagators, utils, wsgi = _instrumentation()
    tracer, mode = _DjangoMiddleware._tracer, _DjangoMiddleware._sem_conv_opt_in_mode
    if tracer is None or _DjangoMiddleware._excluded_urls.url_disabled(_url_of(environ)):
        return []
    method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
    query = environ.get("QUERY_STRING", "")
    target = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if not target:
        target = f"{path}?{query}" if query else path
    code = int(status[:3])
    attributes: dict[str, Any] = {}
    _semconv._set_http_method(attributes, method, method, mode)
    _semconv._set_http_scheme(attributes, environ.get("wsgi.url_scheme"), mode)
    _semconv._set_http_target(attributes, target, path, query, mode)
    if remote_address := environ.get("REMOTE_ADDR"):
        _semconv._set_http_peer_ip_server(attributes, remote_address, mode)
    attributes["http.route"] = route
    _semconv._set_http_status_code(attributes, code, mode)
    span = tracer.start_span(
        f"{method} {route}",
        context=propagate.extract(environ, getter=wsgi.wsgi_getter),
        kind=SpanKind.SERVER,
        start_time=start_time,
        attributes=attributes,
    )
    added: dict[str, str] = {}
    try:
        if code >= 500:
            if _semconv._report_new(mode):
                span.set_attribute("error.type", str(code))
            span.set_status(trace.Status(trace.StatusCode.ERROR))
        if traced := _DjangoMiddleware._traced_request_attrs:
            from django.core.handlers.wsgi import WSGIRequest

            request = WSGIRequest(dict(environ))
            span.set_attributes(utils.extract_attributes_from_object(request, traced, {}))
        # headers captured only when these variables name some (the helpers, which read them on
        # every call, cost a tenth of the span otherwise)
        if os.environ.get(_CAPTURED_REQUEST_HEADERS):
            span.set_attributes(wsgi.collect_custom_request_headers_attributes(environ))
        if os.environ.get(_CAPTURED_RESPONSE_HEADERS):
            span.set_attributes(wsgi.collect_custom_response_headers_attributes(headers))
        propagator = propagators.get_global_response_propagator()
        if propagator:
            propagator.inject(added, context=trace.set_span_in_context(span))
    finally:
        span.end()
    return list(added.items())


@functools.cache
def _instrumentation() -> tuple:
    """The instrumentation's parts :func:`django_server_span` uses (``_semconv``, the Django
    middleware, ``propagators``, ``utils``, ``wsgi``), imported once rather than on each read."""
    from opentelemetry.instrumentation import _semconv, propagators, utils, wsgi
    from opentelemetry.instrumentation.django.middleware import otel_middleware

    return _semconv, otel_middleware._DjangoMiddleware, propagators, utils, wsgi


# What makes Django's scheme and host of a request (with the settings that choose which
# forwarded headers count, below), and that scheme://host, remembered for the last few seen:
# building it for each request was about a quarter of a fast read's span
_ORIGIN_KEYS = (
    "wsgi.url_scheme",
    "HTTP_HOST",
    "SERVER_NAME",
    "SERVER_PORT",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_X_FORWARDED_PORT",
    "HTTP_X_FORWARDED_PROTO",
)
_origins: dict[tuple, str] = {}
_PLAIN_PATH = re.compile(r"[A-Za-z0-9._~/-]*")


def _url_of(environ: dict) -> str:
    """Return what Django's ``request.build_absolute_uri("?")`` returns: the URL the excluded
    URLs are matched against (scheme, host and path, no query)."""
    from django.conf import settings
    from django.core.handlers.wsgi import WSGIRequest

    path = environ.get("PATH_INFO", "")
    if (
        settings.FORCE_SCRIPT_NAME is not None
        or environ.get("SCRIPT_NAME")
        or not (path.startswith("/") and _PLAIN_PATH.fullmatch(path))
        or "//" in path
        or "/." in path
    ):
        # what Django would quote, join or resolve: Django's own answer
        return WSGIRequest(dict(environ)).build_absolute_uri("?")
    proxy_header = settings.SECURE_PROXY_SSL_HEADER
    key = (
        *(environ.get(name) for name in _ORIGIN_KEYS),
        settings.USE_X_FORWARDED_HOST,
        settings.USE_X_FORWARDED_PORT,
        proxy_header,
        environ.get(proxy_header[0]) if proxy_header else None,
    )
    origin = _origins.get(key)
    if origin is None:
        if len(_origins) >= 64:
            _origins.clear()
        origin = _origins[key] = WSGIRequest(dict(environ)).build_absolute_uri("/")[:-1]
    return origin + path


def tracing_shutdown() -> None:
    """Export the spans still waiting (a worker exiting, a command stopping)."""
    if _provider is not None:
        _provider.shutdown()


def tracer() -> trace.Tracer:
    """Return this module's tracer, made once per tracer provider: the SDK's ``get_tracer``
    resets the warnings filters and builds the instrumentation scope anew on every call (about
    a quarter of what a span costs)."""
    global _tracer_of
    provider = _provider or trace.get_tracer_provider()
    if _tracer_of is None or _tracer_of[0] is not provider:
        _tracer_of = (provider, provider.get_tracer(TRACER_NAME))
    return _tracer_of[1]


def trace_headers() -> dict[str, str]:
    """Return the W3C ``traceparent``/``tracestate`` of the current span (empty when none)."""
    carrier: dict[str, str] = {}
    if _enabled:
        propagate.inject(carrier)
    return carrier


def context_from(headers: Mapping[str, Any] | None) -> context.Context | None:
    """Return the context carried by ``traceparent``/``tracestate`` headers (None when none)."""
    if not headers or not headers.get("traceparent"):
        return None
    return propagate.extract({key: str(value) for key, value in headers.items()})


@contextlib.contextmanager
def traceparent_attached(traceparent: str, tracestate: str = "") -> Iterator[None]:
    """Run a block as part of the trace a stored ``traceparent`` names (nothing when off)."""
    if not _enabled or not traceparent:
        yield
        return
    token = context.attach(context_from({"traceparent": traceparent, "tracestate": tracestate}))
    try:
        yield
    finally:
        context.detach(token)


@contextlib.contextmanager
def client_span(name: str, attributes: dict[str, Any]) -> Iterator[Span | None]:
    """Run a call to an outside system in a CLIENT span (nothing when off)."""
    if not _enabled:
        yield None
        return
    with tracer().start_as_current_span(name, kind=SpanKind.CLIENT, attributes=attributes) as span:
        yield span


def producer_span(
    name: str, *, parent: Mapping[str, str] | None, attributes: dict[str, Any]
) -> Span:
    """Start (not end) a PRODUCER span under the context ``parent`` headers carry."""
    return tracer().start_span(
        name, context=context_from(parent), kind=SpanKind.PRODUCER, attributes=attributes
    )


def consumer_span(name: str, *, headers: Mapping[str, Any] | None, attributes: dict) -> Span:
    """Start (not end) a CONSUMER span under the context a message's headers carry."""
    return tracer().start_span(
        name, context=context_from(headers), kind=SpanKind.CONSUMER, attributes=attributes
    )


def span_headers(span: Span) -> dict[str, str]:
    """Return the ``traceparent``/``tracestate`` that make ``span`` the parent of another."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=trace.set_span_in_context(span))
    return carrier
