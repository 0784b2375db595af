"""Traces through the edge: with tracing on, a proxied call is a SERVER span under the client's
``traceparent``, and the service is called under that span; with tracing off, the client's trace
headers pass through untouched. ``spans`` (ecomms_common's pytest plugin) turns tracing on in the
test's process, the edge server's thread included."""

import pytest
from opentelemetry.trace import SpanKind, StatusCode

from ecomms_common import tracing
from tests.servers import Reply

pytestmark = pytest.mark.django_db

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
CLIENT_SPAN_ID = "b7ad6b7169203331"
TRACEPARENT = f"00-{TRACE_ID}-{CLIENT_SPAN_ID}-01"


def _traceparent_of(span) -> str:
    context = span.get_span_context()
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"


def test_a_proxied_call_is_a_server_span_under_the_clients_traceparent(
    gateway, catalog, spans
) -> None:
    response = gateway.get("/products/7/", HTTP_TRACEPARENT=TRACEPARENT, HTTP_TRACESTATE="vendor=1")

    assert response.status_code == 200
    [span] = spans.get_finished_spans()
    assert (span.name, span.kind) == ("GET /catalog", SpanKind.SERVER)
    assert f"{span.context.trace_id:032x}" == TRACE_ID
    assert f"{span.parent.span_id:016x}" == CLIENT_SPAN_ID
    assert span.attributes["http.request.method"] == "GET"
    assert span.attributes["url.path"] == "/products/7/"
    assert span.attributes["http.response.status_code"] == 200
    assert span.status.status_code == StatusCode.UNSET
    # The catalog is called under the gateway's span, once: its context replaced the client's.
    [received] = catalog.received
    assert received.headers["traceparent"] == _traceparent_of(span)
    assert received.headers["tracestate"] == "vendor=1"


def test_a_proxied_call_without_a_traceparent_starts_a_trace(gateway, catalog, spans) -> None:
    assert gateway.get("/products/").status_code == 200

    [span] = spans.get_finished_spans()
    assert span.parent is None
    assert catalog.received[0].headers["traceparent"] == _traceparent_of(span)


def test_a_service_answering_5xx_marks_the_span_an_error(gateway, catalog, spans) -> None:
    catalog.reply = Reply(status=503, body=b'{"error": {"code": "unavailable"}}')

    assert gateway.get("/products/", HTTP_TRACEPARENT=TRACEPARENT).status_code == 503

    [span] = spans.get_finished_spans()
    assert span.attributes["http.response.status_code"] == 503
    assert span.status.status_code == StatusCode.ERROR


def test_a_refused_call_is_a_span_too_and_reaches_no_service(gateway, orders, spans) -> None:
    response = gateway.get("/orders/", HTTP_TRACEPARENT=TRACEPARENT)

    assert response.status_code == 401
    [span] = spans.get_finished_spans()
    assert (span.name, span.attributes["http.response.status_code"]) == ("GET /orders", 401)
    assert orders.received == []


def test_with_tracing_off_the_clients_trace_headers_pass_through(gateway, catalog) -> None:
    assert tracing.tracing_enabled() is False

    assert gateway.get("/products/", HTTP_TRACEPARENT=TRACEPARENT).status_code == 200

    assert catalog.received[0].headers["traceparent"] == TRACEPARENT
