"""The span exporter's own encoder: its bytes parse to the request the SDK's encoder builds, for
every kind of span and attribute, and a batch reaches a real OTLP/HTTP receiver."""

import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.span import TraceState

from ecomms_common.span_export import SpanExporter, request_bytes
from ecomms_standins.otlp import OtlpReceiver

REMOTE_PARENT = SpanContext(
    trace_id=0x0AF7651916CD43DD8448EB211C80319C,
    span_id=0xB7AD6B7169203331,
    is_remote=True,
    trace_flags=TraceFlags(TraceFlags.SAMPLED),
    trace_state=TraceState([("vendor", "1"), ("other", "x")]),
)


def _finished(make_spans, *, resource=None, limits=None) -> list:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(
        resource=resource or Resource.create({"service.name": "auth-gateway"}),
        span_limits=limits,
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    make_spans(provider)
    return list(exporter.get_finished_spans())


def _parsed(data: bytes) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    request.ParseFromString(data)
    return request


def _server_span_under_a_remote_parent(provider) -> None:
    parent = trace.set_span_in_context(trace.NonRecordingSpan(REMOTE_PARENT))
    span = provider.get_tracer("ecomms").start_span(
        "GET /catalog",
        context=parent,
        kind=SpanKind.SERVER,
        attributes={"http.request.method": "GET", "url.path": "/products/7/"},
    )
    span.set_attribute("http.response.status_code", 200)
    span.end()


def _every_scalar_attribute(provider) -> None:
    with provider.get_tracer("ecomms").start_as_current_span("scalars") as span:
        span.set_attributes(
            {
                "text": "é ünïcode",
                "empty": "",
                "yes": True,
                "no": False,
                "zero": 0,
                "big": 2**62,
                "negative": -42,
                "ratio": 0.25,
                "negative float": -1.5,
            }
        )


def _nested_client_spans_with_statuses(provider) -> None:
    tracer = provider.get_tracer("ecomms")
    with tracer.start_as_current_span("outer", kind=SpanKind.CONSUMER):
        with tracer.start_as_current_span("ok", kind=SpanKind.CLIENT) as ok:
            ok.set_status(Status(StatusCode.OK))
        with tracer.start_as_current_span("failed", kind=SpanKind.PRODUCER) as failed:
            failed.set_status(Status(StatusCode.ERROR, "the broker said no"))
        with tracer.start_as_current_span("bare error") as bare:
            bare.set_status(Status(StatusCode.ERROR))


def _spans_the_sdk_encoder_writes(provider) -> None:
    """Events (an exception recorded), links and list attributes: the SDK's encoder's part."""
    tracer = provider.get_tracer("ecomms")
    with pytest.raises(ValueError), tracer.start_as_current_span("raises"):
        raise ValueError("bad input")
    tracer.start_span("linked", links=[Link(REMOTE_PARENT, {"why": "batch"})]).end()
    with tracer.start_as_current_span("listed") as span:
        span.set_attribute("hosts", ["a", "b"])
        span.set_attribute("plain", "after the list")


def _two_scopes(provider) -> None:
    provider.get_tracer("ecomms").start_span("ours").end()
    provider.get_tracer("opentelemetry.instrumentation.psycopg", "0.66b1").start_span(
        "SELECT"
    ).end()
    provider.get_tracer("ecomms").start_span("ours again").end()


@pytest.mark.parametrize(
    "make_spans",
    [
        _server_span_under_a_remote_parent,
        _every_scalar_attribute,
        _nested_client_spans_with_statuses,
        _spans_the_sdk_encoder_writes,
        _two_scopes,
    ],
)
def test_a_batch_parses_to_the_request_the_sdk_encoder_builds(make_spans) -> None:
    spans = _finished(make_spans)

    assert _parsed(request_bytes(spans)) == encode_spans(spans)


def test_spans_over_the_attribute_limit_say_how_many_were_dropped() -> None:
    def crowded(provider) -> None:
        with provider.get_tracer("ecomms").start_as_current_span("crowded") as span:
            for number in range(5):
                span.set_attribute(f"attribute {number}", number)

    spans = _finished(crowded, limits=SpanLimits(max_span_attributes=2))

    request = _parsed(request_bytes(spans))
    assert request == encode_spans(spans)
    assert request.resource_spans[0].scope_spans[0].spans[0].dropped_attributes_count == 3


def test_spans_of_two_resources_stay_apart() -> None:
    spans = _finished(_every_scalar_attribute) + _finished(
        _two_scopes, resource=Resource.create({"service.name": "orders"})
    )

    request = _parsed(request_bytes(spans))
    assert request == encode_spans(spans)
    assert len(request.resource_spans) == 2


def test_the_exporter_delivers_a_batch_to_an_otlp_receiver() -> None:
    receiver = OtlpReceiver().start()
    try:
        exporter = SpanExporter(endpoint=f"{receiver.endpoint}/v1/traces")
        provider = TracerProvider(resource=Resource.create({"service.name": "auth-gateway"}))
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        _server_span_under_a_remote_parent(provider)
        provider.shutdown()
    finally:
        receiver.stop()

    [span] = receiver.spans
    assert (span.service, span.name, span.kind) == ("auth-gateway", "GET /catalog", "server")
    assert span.parent_span_id == "b7ad6b7169203331"
    assert span.attributes["http.response.status_code"] == 200
