"""Traces: when tracing is on, the outbox carries the trace context to the message, and log lines
written inside a span name it; with tracing off, none of it happens."""

import io
import json
import logging
import logging.config
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.management import call_command
from django.db import transaction
from django.test import Client
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from ecomms_common import tracing
from ecomms_common.base_settings import logging_config
from ecomms_common.events import Envelope
from ecomms_common.outbox.models import OutboxMessage
from ecomms_common.outbox.services import outbox_enqueue
from ecomms_common.testing.broker import drain

ENDPOINT = "http://127.0.0.1:4318"


def _hex(span_context_id: int, width: int) -> str:
    return format(span_context_id, f"0{width}x")


def _ids(traceparent: str) -> tuple[str, str]:
    """The trace and parent span ids of a sampled W3C traceparent."""
    version, trace_id, span_id, flags = traceparent.split("-")
    assert version == "00"
    assert int(flags, 16) & 1  # sampled
    return trace_id, span_id


OTEL_VARIABLES = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_SDK_DISABLED",
    "OTEL_SERVICE_NAME",
)


@pytest.fixture
def environ(monkeypatch):
    """Set OTEL_* variables for one test, none of the machine's own."""
    for name in OTEL_VARIABLES:
        monkeypatch.delenv(name, raising=False)

    def set_variables(variables: dict[str, str]) -> None:
        for name, value in variables.items():
            monkeypatch.setenv(name, value)

    return set_variables


@pytest.mark.parametrize(
    ("variables", "configured"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": ENDPOINT}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{ENDPOINT}/v1/traces"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": ENDPOINT, "OTEL_SDK_DISABLED": "true"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": ENDPOINT, "OTEL_SDK_DISABLED": "TRUE"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": ENDPOINT, "OTEL_SDK_DISABLED": "false"}, True),
    ],
)
def test_tracing_is_on_only_with_an_endpoint_and_the_sdk_not_disabled(
    environ, variables, configured
):
    environ(variables)
    assert tracing.tracing_configured() is configured


def test_setup_without_an_endpoint_leaves_tracing_off(environ):
    assert tracing.tracing_setup(service_name="tests") is False
    assert tracing.tracing_enabled() is False
    assert tracing.trace_headers() == {}
    with tracing.client_span("SMTP send", {}) as span:
        assert span is None


@pytest.fixture
def set_up(request, environ, monkeypatch):
    """Tracing set up as a service's wsgi module does it (with the variables of the test's
    ``param``, if any); its instrumentations removed after."""
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    from opentelemetry.instrumentation.requests import RequestsInstrumentor

    posts: list[tuple[str, str]] = []

    class Collector(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            posts.append((self.path, self.headers["Content-Type"]))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    collector = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=collector.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{collector.server_address[1]}"
    environ(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            "OTEL_SERVICE_NAME": "catalog-canary",
            **getattr(request, "param", {}),
        }
    )
    monkeypatch.setattr(tracing, "_enabled", False)
    monkeypatch.setattr(tracing, "_provider", None)
    factory = logging.getLogRecordFactory()
    assert tracing.tracing_setup(service_name="catalog") is True
    exporter = InMemorySpanExporter()
    tracing._provider.add_span_processor(SimpleSpanProcessor(exporter))
    exporter.posts = posts
    yield exporter
    collector.shutdown()
    collector.server_close()
    for instrumentor in (DjangoInstrumentor, PsycopgInstrumentor, RequestsInstrumentor):
        instrumentor().uninstrument()
    logging.setLogRecordFactory(factory)


@pytest.mark.django_db
def test_a_request_with_a_traceparent_is_served_in_a_child_span_of_it(set_up):
    client_trace, client_span = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    response = Client().get(
        "/outbox-count/", HTTP_TRACEPARENT=f"00-{client_trace}-{client_span}-01"
    )
    assert response.status_code == 200
    # Probes make no trace of their own.
    assert Client().get("/healthz").status_code == 200
    tracing.tracing_shutdown()
    spans = set_up.get_finished_spans()
    [server] = [span for span in spans if span.kind == SpanKind.SERVER]
    assert _hex(server.context.trace_id, 32) == client_trace
    assert _hex(server.parent.span_id, 16) == client_span
    assert server.resource.attributes["service.name"] == "catalog-canary"
    # Exported over OTLP/HTTP in protobuf.
    assert ("/v1/traces", "application/x-protobuf") in set_up.posts


@pytest.mark.django_db(transaction=True)
def test_an_outbox_row_keeps_the_trace_context_of_the_change_that_wrote_it(spans):
    envelope = Envelope(event_type="order.placed", event_version=1, producer="tests", data={})
    request = tracing.tracer().start_as_current_span("POST /orders/", kind=SpanKind.SERVER)
    with request as span, transaction.atomic():
        outbox_enqueue(envelope=envelope)
    row = OutboxMessage.objects.get()
    context = span.get_span_context()
    trace_id, span_id = _hex(context.trace_id, 32), _hex(context.span_id, 16)
    assert _ids(row.traceparent) == (trace_id, span_id)


@pytest.mark.django_db(transaction=True)
def test_an_outbox_row_written_with_tracing_off_has_no_trace_context():
    envelope = Envelope(event_type="order.placed", event_version=1, producer="tests", data={})
    with transaction.atomic():
        outbox_enqueue(envelope=envelope)
    assert OutboxMessage.objects.get().traceparent == ""


@pytest.mark.django_db(transaction=True)
def test_the_relay_publishes_in_a_producer_span_under_the_row_and_names_it_in_the_headers(
    spans, bound_queue
):
    envelope = Envelope(event_type="order.placed", event_version=1, producer="tests", data={})
    placing = tracing.tracer().start_as_current_span("POST /orders/", kind=SpanKind.SERVER)
    with placing as request, transaction.atomic():
        outbox_enqueue(envelope=envelope)
    call_command("relay_outbox", once=True)

    [producer] = [s for s in spans.get_finished_spans() if s.kind == SpanKind.PRODUCER]
    assert producer.parent.span_id == request.get_span_context().span_id
    assert producer.context.trace_id == request.get_span_context().trace_id
    assert producer.name == "publish order.placed.v1"
    assert producer.attributes["messaging.message.id"] == str(envelope.event_id)
    [(_, properties, _)] = drain(bound_queue.name)
    trace_id, span_id = _hex(producer.context.trace_id, 32), _hex(producer.context.span_id, 16)
    assert _ids(properties.headers["traceparent"]) == (trace_id, span_id)


@pytest.mark.django_db(transaction=True)
def test_a_relay_not_tracing_passes_the_rows_trace_context_on(bound_queue):
    envelope = Envelope(event_type="order.placed", event_version=1, producer="tests", data={})
    with transaction.atomic():
        outbox_enqueue(envelope=envelope)
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    OutboxMessage.objects.update(traceparent=traceparent)
    call_command("relay_outbox", once=True)
    [(_, properties, _)] = drain(bound_queue.name)
    assert properties.headers["traceparent"] == traceparent


def _json_log_lines(write) -> list[dict]:
    """Configure the services' LOGGING into a buffer, run ``write``, return the JSON lines."""
    config = logging_config(service="tests")
    stream = io.StringIO()
    config["handlers"]["console"]["stream"] = stream
    config["root"]["level"] = "INFO"
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    logging.config.dictConfig(config)
    try:
        write(logging.getLogger("tests.tracing"))
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_log_line_written_inside_a_span_carries_its_trace_and_span_ids(spans):
    def write(logger):
        with tracing.tracer().start_as_current_span("work") as span:
            logger.info("inside")
            write.context = span.get_span_context()
        logger.info("outside")

    inside, outside = _json_log_lines(write)
    assert inside["message"] == "inside"
    assert inside["trace_id"] == _hex(write.context.trace_id, 32)
    assert inside["span_id"] == _hex(write.context.span_id, 16)
    assert outside["message"] == "outside"
    assert "trace_id" not in outside
    assert "span_id" not in outside


def test_log_lines_of_a_stored_trace_context_carry_its_trace_id(spans):
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

    def write(logger):
        with tracing.traceparent_attached(traceparent):
            logger.info("sms delivery 1 sent")

    [line] = _json_log_lines(write)
    assert line["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert line["span_id"] == "00f067aa0ba902b7"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "set_up", [{"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "psycopg, django"}], indirect=True
)
def test_instrumentations_named_disabled_are_left_out(set_up):
    assert Client().get("/outbox-count/").status_code == 200
    with tracing.tracer().start_as_current_span("work"):
        assert Client().get("/outbox-count/").status_code == 200
    assert [span.name for span in set_up.get_finished_spans()] == ["work"]
