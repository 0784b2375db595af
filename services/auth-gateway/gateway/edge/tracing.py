"""Spans of the edge's proxied calls, made only while tracing is on (``ecomms_common.tracing``).

A proxied call gets a SERVER span, the child of the client's W3C ``traceparent`` when it sent
one; its context replaces the client's ``traceparent``/``tracestate`` in the upstream request, so
the service's server span is its child. No second (client) span around the call upstream: the
service's own span already shows that part. ``proxy_app`` asks
:func:`ecomms_common.tracing.tracing_enabled` once per call; with tracing off none of this runs,
and the client's trace headers pass through unchanged like any other header.

The span costs the edge CPU on every call (made, then encoded and sent by the exporter's
thread), so it is made the plain way: :func:`server_span_start` starts it and makes it current
with one context switch, :func:`server_span_end` ends it (no generator-based context managers,
the module's tracer looked up once), and it carries the attributes a trace viewer shows and
nothing more (the upstream is in its name).
"""

from typing import Any

from opentelemetry import context, propagate, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

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


def server_span_start(
    headers: dict[bytes, bytes], scope: dict[str, Any], upstream: str
) -> tuple[Span, object]:
    """Start a proxied call's SERVER span under the client's trace context, if it sent one, and
    make it the current span; return it and the token :func:`server_span_end` needs."""
    method = scope["method"]
    span = tracer().start_span(
        f"{method} /{upstream}",
        context=propagate.extract(headers, getter=_getter),
        kind=SpanKind.SERVER,
        attributes={
            "http.request.method": method,
            "url.path": scope["path"],
            "url.scheme": scope.get("scheme", "http"),
        },
    )
    return span, context.attach(trace.set_span_in_context(span))


def server_span_failed(span: Span, exc: Exception) -> None:
    """Record an exception the call raised on its span (as ``start_as_current_span`` does)."""
    span.record_exception(exc)
    span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))


def server_span_end(span: Span, token: object, status: int) -> None:
    """End a proxied call's span with the status it answered, and make the previous context
    current again."""
    span.set_attribute("http.response.status_code", status)
    if status >= 500:
        span.set_status(Status(StatusCode.ERROR))
    span.end()
    context.detach(token)


def with_trace_headers(outgoing: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Return the upstream headers with the client's trace headers replaced by the current
    span's."""
    kept = [(name, value) for name, value in outgoing if name.lower() not in TRACE_HEADERS]
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return kept + list(carrier.items())
