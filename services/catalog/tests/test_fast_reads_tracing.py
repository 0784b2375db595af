"""With tracing on, the reads answered ahead of Django make the SERVER span Django's
instrumentation makes for them: same name, kind, parent and status, and six of its attributes
(``ecomms_common.tracing.django_server_span``) with Django's names and values."""

import pytest
from catalog.api.average_price import AVERAGE_PRICE
from catalog.api.fast_reads import FastReads
from catalog.api.product_reads import PRODUCT_READS
from django.core.wsgi import get_wsgi_application
from opentelemetry.trace import SpanKind
from prometheus_client import REGISTRY

from ecomms_common import tracing
from tests.conftest import product

pytestmark = pytest.mark.django_db

CLIENT_TRACE, CLIENT_SPAN = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
# the six, in the instrumentation's default (1.12) semantic conventions
FAST_SPAN_KEYS = {
    "http.method",
    "http.scheme",
    "http.target",
    "net.peer.ip",
    "http.route",
    "http.status_code",
}
TRACEPARENT = f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"


def _answered() -> float:
    product_reads = sum(
        REGISTRY.get_sample_value("catalog_product_fast_path_seconds_count", {"read": read}) or 0
        for read in ("detail", "list")
    )
    average_price = REGISTRY.get_sample_value("catalog_average_price_fast_path_seconds_count")
    return product_reads + (average_price or 0)


@pytest.fixture
def traced(spans):
    """Tracing on as config/wsgi.py sets it up (Django's instrumentation first in MIDDLEWARE),
    spans kept in memory; Django's application and the fast reads built after it."""
    from opentelemetry.instrumentation.django import DjangoInstrumentor

    DjangoInstrumentor().instrument(
        tracer_provider=tracing._provider,
        is_sql_commentor_enabled=False,
        excluded_urls=tracing.PROBE_PATHS,
    )
    try:
        django_application = get_wsgi_application()  # its middleware chain, traced
        served = FastReads(django_application, [AVERAGE_PRICE, PRODUCT_READS])
        yield spans, served, django_application
    finally:
        DjangoInstrumentor().uninstrument()


@pytest.fixture
def catalog(upload):
    return upload(
        product(name="Orange", price="2.00", paths=[["All Products", "Fruits", "Citrus"]]),
        product(name="Kiwi", price="3.15", sku="K-1", paths=[["All Products", "Fruits"]]),
    ).json()["created"]


def _server_spans(exporter):
    return [span for span in exporter.get_finished_spans() if span.kind == SpanKind.SERVER]


@pytest.mark.parametrize(
    ("path", "query", "method"),
    [
        ("/products/{id}/", "", "GET"),
        ("/products/{id}/", "", "HEAD"),
        ("/products/", "category=fruits&page_size=1&sort=price", "GET"),
        ("/products/", "", "GET"),
        ("/categories/fruits/average_price/", "currency=USD", "GET"),
    ],
)
def test_a_fast_read_makes_the_span_django_makes(traced, catalog, wsgi, path, query, method):
    exporter, served, django_application = traced
    exporter.clear()  # the upload's
    path = path.replace("{id}", str(catalog[0]))
    headers = {"traceparent": TRACEPARENT, "User-Agent": "orders/1.0"}
    assert served.enabled and served.traced

    before = _answered()
    fast = wsgi(path, query, method, headers, application=served)
    assert _answered() == before + 1
    [fast_span] = _server_spans(exporter)
    exporter.clear()
    slow = wsgi(path, query, method, headers, application=django_application)
    [django_span] = _server_spans(exporter)

    assert (fast.status, fast.headers["ETag"]) == (slow.status, slow.headers["ETag"])
    assert fast_span.name == django_span.name
    assert fast_span.name.startswith(f"{method} ") and "/" in fast_span.name
    assert dict(fast_span.attributes) == {
        key: value for key, value in django_span.attributes.items() if key in FAST_SPAN_KEYS
    }
    assert set(django_span.attributes) > FAST_SPAN_KEYS  # Django's has them, and more
    assert fast_span.attributes["http.route"] == django_span.attributes["http.route"]
    assert fast_span.instrumentation_scope == django_span.instrumentation_scope
    assert fast_span.status.status_code == django_span.status.status_code
    # both continue the caller's trace, as children of its span
    for span in (fast_span, django_span):
        assert format(span.context.trace_id, "032x") == CLIENT_TRACE
        assert format(span.parent.span_id, "016x") == CLIENT_SPAN
    assert fast_span.end_time >= fast_span.start_time


def test_a_read_passed_on_to_django_makes_django_s_span_only(traced, catalog, wsgi):
    exporter, served, _ = traced
    exporter.clear()  # the upload's
    before = _answered()

    missing = wsgi("/products/999999/", headers={"traceparent": TRACEPARENT}, application=served)

    assert missing.status == 404
    assert _answered() == before
    [span] = _server_spans(exporter)
    assert span.attributes["http.status_code"] == 404
    assert format(span.parent.span_id, "016x") == CLIENT_SPAN


def test_a_read_without_a_traceparent_starts_a_trace_of_its_own(traced, catalog, wsgi):
    exporter, served, _ = traced
    exporter.clear()  # the upload's

    wsgi(f"/products/{catalog[1]}/", application=served)

    [span] = _server_spans(exporter)
    assert span.parent is None
    assert span.attributes["http.status_code"] == 200


def test_captured_headers_are_the_span_attributes_django_gives_them(
    traced, catalog, wsgi, monkeypatch
):
    exporter, served, django_application = traced
    monkeypatch.setenv("OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST", "user-agent")
    monkeypatch.setenv("OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_RESPONSE", "etag,allow")
    path, headers = f"/products/{catalog[1]}/", {"User-Agent": "orders/1.0"}
    exporter.clear()  # the upload's

    wsgi(path, headers=headers, application=served)
    [fast_span] = _server_spans(exporter)
    exporter.clear()
    wsgi(path, headers=headers, application=django_application)
    [django_span] = _server_spans(exporter)

    assert fast_span.attributes["http.request.header.user_agent"] == ("orders/1.0",)
    assert "http.response.header.etag" in fast_span.attributes
    captured = {key for key in django_span.attributes if ".header." in key}
    assert captured == {key for key in fast_span.attributes if ".header." in key}
    assert dict(fast_span.attributes) == {
        key: value
        for key, value in django_span.attributes.items()
        if key in FAST_SPAN_KEYS | captured
    }


def test_a_fast_read_s_queries_start_no_trace_of_their_own(traced, catalog, wsgi):
    """Its span is made once it is answered: a query's span (a new connection's first, say)
    would have no parent. Through Django the same query is a child of the read's span."""
    from django.db import connections
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor

    exporter, served, django_application = traced
    PsycopgInstrumentor().instrument(
        tracer_provider=tracing._provider, enable_commenter=False, skip_dep_check=True
    )
    try:
        for application in (django_application, served):
            connections.close_all()  # a new, traced connection queries as it opens
            exporter.clear()
            wsgi(
                f"/products/{catalog[0]}/",
                headers={"traceparent": TRACEPARENT},
                application=application,
            )
            spans = {span.kind: span for span in exporter.get_finished_spans()}
            if application is django_application:
                server_span_id = spans[SpanKind.SERVER].context.span_id
                assert spans[SpanKind.CLIENT].parent.span_id == server_span_id
        assert list(spans) == [SpanKind.SERVER]
        assert format(spans[SpanKind.SERVER].parent.span_id, "016x") == CLIENT_SPAN
    finally:
        PsycopgInstrumentor().uninstrument()
        connections.close_all()


@pytest.mark.parametrize(
    ("environ", "excluded", "exported"),
    [
        ({}, "products/[0-9]+/$", 0),
        ({"HTTP_HOST": "shop.example:8443", "wsgi.url_scheme": "https"}, "^http://shop.+:8443/", 0),
        ({"HTTP_HOST": "catalog:8001"}, "//catalog:8001/products/", 0),
        ({"HTTP_HOST": "catalog:8001"}, "^http://testserver/", 1),
        ({"HTTP_HOST": "catalog:8001"}, "products/[0-9]+/[?]", 1),
    ],
)
def test_excluded_urls_are_matched_as_django_matches_them(
    traced, catalog, wsgi, settings, environ, excluded, exported
):
    """The URL a fast read's span is excluded by is the one Django's instrumentation builds."""
    from wsgiref.util import setup_testing_defaults

    from django.core.handlers.wsgi import WSGIRequest
    from opentelemetry.instrumentation.django.middleware.otel_middleware import _DjangoMiddleware
    from opentelemetry.util.http import ExcludeList

    settings.ALLOWED_HOSTS = ["*"]
    exporter, served, django_application = traced
    path = f"/products/{catalog[0]}/"
    full = {"REQUEST_METHOD": "GET", "PATH_INFO": path, **environ}
    setup_testing_defaults(full)
    assert tracing._url_of(full) == WSGIRequest(dict(full)).build_absolute_uri("?")
    odd = {**full, "PATH_INFO": "/a b/%7e/"}
    assert tracing._url_of(odd) == WSGIRequest(dict(odd)).build_absolute_uri("?")

    kept = _DjangoMiddleware._excluded_urls
    _DjangoMiddleware._excluded_urls = ExcludeList([excluded])
    try:
        headers = {
            key[5:].replace("_", "-"): value
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        exporter.clear()
        fast = wsgi(path, headers=headers, application=served)
        fast_spans = _server_spans(exporter)
        exporter.clear()
        wsgi(path, headers=headers, application=django_application)
        django_spans = _server_spans(exporter)
    finally:
        _DjangoMiddleware._excluded_urls = kept
    assert fast.status == 200
    assert len(fast_spans) == len(django_spans) == exported
