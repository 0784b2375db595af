"""Spans of the edge's proxied calls, made only while tracing is on (``ecomms_common.tracing``).

A proxied call gets a SERVER span, the child of the client's W3C ``traceparent`` when it sent
one; its context replaces the client's ``traceparent``/``tracestate`` in the upstream request, so
the service's server span is its child. No second (client) span around the call upstream: the
service's own span already shows that part, and each span costs the edge about 0.1 ms of CPU.
``proxy_app`` asks :func:`ecomms_common.tracing.tracing_enabled` once per call; with tracing off
none of this runs, and the client's trace headers pass through unchanged like any other header.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import context, propagate
from opentelemetry.trace import SpanKind, Status, StatusCode

from ecomms_common.tracing import tracer

TRACE_HEADERS = frozenset({"traceparent", "tracestate"})


class _HeaderGetter:
    """Read the W3C headers from an ASGI scope's first-value map (lower-case bytes names)."""

    def get(self, carrier: dict[bytes, bytes], key: str) -> list[str] | None:
        value = carrier.get(key.encode())
        return None if value is None else [value.decode("latin-1")]

    def keys(self, carrier: dict[bytes, bytes]) -> list[str]:
        return [name.decode("latin-1") for name in carrier]


_getter = _HeaderGetter()


@contextmanager
def server_span(headers: dict[bytes, bytes], scope: dict[str, Any], upstream: str) -> Iterator[Any]:
    """Run a proxied call in a SERVER span under the client's trace context, if it sent one."""
    parent = propagate.extract(headers, getter=_getter)
    method = scope["method"]
    attributes = {
        "http.request.method": method,
        "url.path": scope["path"],
        "url.scheme": scope.get("scheme", "http"),
        "ecomms.upstream": upstream,
    }
    token = context.attach(parent)
    try:
        with tracer().start_as_current_span(
            f"{method} /{upstream}", kind=SpanKind.SERVER, attributes=attributes
        ) as span:
            yield span
    finally:
        context.detach(token)


def server_span_end(span: Any, status: int) -> None:
    span.set_attribute("http.response.status_code", status)
    if status >= 500:
        span.set_status(Status(StatusCode.ERROR))


def with_trace_headers(outgoing: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Return the upstream headers with the client's trace headers replaced by the current
    span's."""
    kept = [(name, value) for name, value in outgoing if name.lower() not in TRACE_HEADERS]
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return kept + list(carrier.items())
