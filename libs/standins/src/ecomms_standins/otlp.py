"""A small OTLP/HTTP trace receiver: what a collector or Jaeger does with ``POST /v1/traces``.

Decodes each ``ExportTraceServiceRequest`` (protobuf, optionally gzip) with opentelemetry-proto
and keeps the spans in memory, with their service's name, for a test to read. With ``keep=False``
it only reads and answers: the sink the benchmarks' traced servers export to
(``ecomms-otlp-sink --port N``), so that exporting costs them what it costs in production and
nothing more. Connections are kept open between exports, as a collector's are.
"""

import argparse
import gzip
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan

from ecomms_standins.serving import ServerThread, serve_until_stopped

KINDS = {
    ProtoSpan.SPAN_KIND_INTERNAL: "internal",
    ProtoSpan.SPAN_KIND_SERVER: "server",
    ProtoSpan.SPAN_KIND_CLIENT: "client",
    ProtoSpan.SPAN_KIND_PRODUCER: "producer",
    ProtoSpan.SPAN_KIND_CONSUMER: "consumer",
}


@dataclass(frozen=True)
class ReceivedSpan:
    service: str
    name: str
    kind: str  # server, client, producer, consumer, internal
    trace_id: str  # hex, as in a traceparent
    span_id: str
    parent_span_id: str  # "" for a root span
    attributes: dict


def _value(any_value) -> object:
    kind = any_value.WhichOneof("value")
    return getattr(any_value, kind) if kind else None


class OtlpReceiver:
    """Listen on 127.0.0.1 (an ephemeral port unless given) in a thread until ``stop()``."""

    def __init__(self, port: int = 0, *, keep: bool = True) -> None:
        self.spans: list[ReceivedSpan] = []
        self.requests = 0
        self._lock = threading.Lock()
        self._keep = keep
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a collector answers

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.path != "/v1/traces":
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                receiver.receive(body, gzipped=self.headers.get("Content-Encoding") == "gzip")
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args) -> None:  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self._serving = ServerThread(self.server)

    @property
    def endpoint(self) -> str:
        """The value of ``OTEL_EXPORTER_OTLP_ENDPOINT`` that sends spans here."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def start(self) -> "OtlpReceiver":
        self._serving.start()
        return self

    def stop(self) -> None:
        self._serving.close()

    def receive(self, body: bytes, *, gzipped: bool = False) -> None:
        with self._lock:
            self.requests += 1
        if not self._keep:
            return
        if gzipped:
            body = gzip.decompress(body)
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        received = []
        for resource_spans in request.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            service = str(resource.get("service.name", ""))
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    received.append(
                        ReceivedSpan(
                            service=service,
                            name=span.name,
                            kind=KINDS.get(span.kind, "unspecified"),
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_span_id=span.parent_span_id.hex(),
                            attributes={a.key: _value(a.value) for a in span.attributes},
                        )
                    )
        with self._lock:
            self.spans += received

    def trace(self, trace_id: str) -> list[ReceivedSpan]:
        """The spans received so far of one trace."""
        with self._lock:
            return [span for span in self.spans if span.trace_id == trace_id]


def main(argv: list[str] | None = None) -> None:
    """Accept and discard every export until SIGTERM or SIGINT (``ecomms-otlp-sink``)."""
    parser = argparse.ArgumentParser(description="An OTLP/HTTP receiver that keeps nothing.")
    parser.add_argument("--port", type=int, default=4318)
    options = parser.parse_args(argv)
    receiver = OtlpReceiver(options.port, keep=False).start()
    serve_until_stopped(f"OTLP sink on {receiver.endpoint}/v1/traces")
    receiver.stop()
