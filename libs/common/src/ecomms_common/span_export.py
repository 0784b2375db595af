"""The OTLP/HTTP span exporter of :func:`ecomms_common.tracing.tracing_setup`, its own encoder.

The SDK's exporter builds a protobuf message object per span, per attribute and per value, then
serializes the tree: about 60 us of CPU per span, spent in every traced process on the exporter's
thread beside the requests it serves. A span is a short list of fields, so this one writes the
OTLP protobuf bytes of each span directly (a fifth of that), and lets the SDK's encoder do the
rest: the resource and scope headers of each batch, and any span carrying events, links or a
list or map attribute (an exception recorded, say). The bytes parse to the very request the
SDK's encoder builds (``tests/test_span_export.py`` compares them); sending, retries, timeouts,
compression and the ``OTEL_EXPORTER_OTLP_*`` variables are the SDK exporter's own.
"""

import logging
import struct
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from opentelemetry.exporter.otlp.proto.common._internal import (
    _encode_instrumentation_scope,
    _encode_resource,
)
from opentelemetry.exporter.otlp.proto.common._internal.trace_encoder import (
    _SPAN_KIND_MAP,
    _encode_span,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult

logger = logging.getLogger(__name__)

# Field tags (field number << 3 | wire type) of opentelemetry/proto/trace/v1/trace.proto's Span,
# common.proto's KeyValue and AnyValue, and the request's repeated fields.
_TRACE_ID, _SPAN_ID, _TRACE_STATE = b"\x0a", b"\x12", b"\x1a"
_PARENT_SPAN_ID, _NAME = b"\x22", b"\x2a"
_KIND, _START, _END, _ATTRIBUTE, _DROPPED_ATTRIBUTES = b"\x30", b"\x39", b"\x41", b"\x4a", b"\x50"
_DROPPED_EVENTS, _DROPPED_LINKS, _STATUS, _FLAGS = b"\x60", b"\x70", b"\x7a", b"\x85\x01"
_STATUS_MESSAGE, _STATUS_CODE = b"\x12", b"\x18"
_KEY, _VALUE = b"\x0a", b"\x12"
_STRING, _BOOL, _INT, _DOUBLE, _BYTES = b"\x0a", b"\x10", b"\x18", b"\x21", b"\x3a"
_RESOURCE_SPANS, _SCOPE_SPANS, _SPANS = b"\x0a", b"\x12", b"\x12"
# SpanFlags: the parent's "is remote" is known, and (second bit) true.
_HAS_IS_REMOTE, _IS_REMOTE = 0x100, 0x200
_KINDS = {kind: int(value) for kind, value in _SPAN_KIND_MAP.items()}
_fixed64 = struct.Struct("<Q").pack
_fixed32 = struct.Struct("<I").pack
_double = struct.Struct("<d").pack


_ONE_BYTE = [bytes((number,)) for number in range(0x80)]


def _varint(number: int) -> bytes:
    if number < 0x80:
        return _ONE_BYTE[number]
    out = bytearray()
    while number >= 0x80:
        out.append((number & 0x7F) | 0x80)
        number >>= 7
    out.append(number)
    return bytes(out)


def _length_delimited(tag: bytes, payload: bytes) -> bytes:
    size = len(payload)
    return tag + (_ONE_BYTE[size] if size < 0x80 else _varint(size)) + payload


# An attribute's bytes by (key, type, value): most repeat from span to span (a method, a
# status, a table). Emptied when full, so that one-off values (paths, ids) cannot pile up.
_attribute_cache: dict[tuple[str, type, Any], bytes] = {}
_ATTRIBUTE_CACHE_SIZE = 4096


def _attribute(key: str, value: Any) -> bytes | None:
    """Return an attribute's bytes (a Span's KeyValue field); None for a kind left to the
    SDK's encoder."""
    cache_key = (key, type(value), value)
    try:
        found = _attribute_cache.get(cache_key)
    except TypeError:  # unhashable: a kind the SDK's encoder writes
        return None
    if found is not None:
        return found
    encoded = _any_value(value)
    if encoded is None:
        return None
    pair = _length_delimited(_KEY, key.encode()) + _length_delimited(_VALUE, encoded)
    found = _length_delimited(_ATTRIBUTE, pair)
    if len(_attribute_cache) >= _ATTRIBUTE_CACHE_SIZE:
        _attribute_cache.clear()
    _attribute_cache[cache_key] = found
    return found


def _any_value(value: Any) -> bytes | None:
    """Return an attribute value's AnyValue bytes; None for a kind left to the SDK's encoder."""
    if isinstance(value, bool):  # before int: a bool is an int
        return _BOOL + (b"\x01" if value else b"\x00")
    if isinstance(value, str):
        return _length_delimited(_STRING, value.encode())
    if isinstance(value, int):
        return _INT + _varint(value & 0xFFFFFFFFFFFFFFFF)  # int64, two's complement
    if isinstance(value, float):
        return _DOUBLE + _double(value)
    if isinstance(value, bytes):
        return _length_delimited(_BYTES, value)
    return None


def span_bytes(span: ReadableSpan) -> bytes:
    """Return the OTLP protobuf bytes of one span (a ``Span`` message)."""
    fast = _span_bytes(span)
    return fast if fast is not None else _encode_span(span).SerializePartialToString()


def _span_bytes(span: ReadableSpan) -> bytes | None:
    if span.events or span.links:
        return None
    attributes = []
    for key, value in (span.attributes or {}).items():
        encoded = _attribute(key, value)
        if encoded is None:
            return None
        attributes.append(encoded)
    context, parent = span.context, span.parent
    parts = [
        _TRACE_ID + b"\x10" + context.trace_id.to_bytes(16, "big"),
        _SPAN_ID + b"\x08" + context.span_id.to_bytes(8, "big"),
    ]
    if context.trace_state:
        state = ",".join(f"{key}={value}" for key, value in context.trace_state.items())
        parts.append(_length_delimited(_TRACE_STATE, state.encode()))
    if parent is not None:
        parts.append(_PARENT_SPAN_ID + b"\x08" + parent.span_id.to_bytes(8, "big"))
    parts += [
        _length_delimited(_NAME, span.name.encode()),
        _KIND + _varint(_KINDS[span.kind]),
        _START + _fixed64(span.start_time),
        _END + _fixed64(span.end_time),
        *attributes,
    ]
    for tag, dropped in (
        (_DROPPED_ATTRIBUTES, span.dropped_attributes),
        (_DROPPED_EVENTS, span.dropped_events),
        (_DROPPED_LINKS, span.dropped_links),
    ):
        if dropped:
            parts.append(tag + _varint(dropped))
    status = span.status
    code = status.status_code.value
    encoded_status = _STATUS_CODE + _varint(code) if code else b""
    if status.description:
        encoded_status = _length_delimited(_STATUS_MESSAGE, status.description.encode()) + (
            encoded_status
        )
    parts.append(_length_delimited(_STATUS, encoded_status))
    flags = _HAS_IS_REMOTE | (_IS_REMOTE if parent is not None and parent.is_remote else 0)
    parts.append(_FLAGS + _fixed32(flags))
    return b"".join(parts)


def request_bytes(spans: Sequence[ReadableSpan]) -> bytes:
    """Return the ``ExportTraceServiceRequest`` bytes of a batch of spans: per resource, per
    instrumentation scope, the spans in the order given."""
    # By identity: a process's spans share their provider's resource and their tracer's scope
    # (hashing a resource writes it as JSON).
    resources: dict[int, Any] = {}
    scopes_of: dict[int, dict[int, tuple[Any, list[bytes]]]] = defaultdict(dict)
    for span in spans:
        resource, scope = span.resource, span.instrumentation_scope or None
        resources.setdefault(id(resource), resource)
        _, encoded_spans = scopes_of[id(resource)].setdefault(id(scope), (scope, []))
        encoded_spans.append(span_bytes(span))
    request = []
    for resource_id, resource in resources.items():
        # A message's bytes followed by more fields of it parse as one message: the headers come
        # from the SDK's encoder, the repeated fields are appended.
        resource_spans = ResourceSpans(
            resource=_encode_resource(resource), schema_url=resource.schema_url
        ).SerializePartialToString()
        for scope, encoded_spans in scopes_of[resource_id].values():
            scope_spans = ScopeSpans(
                scope=_encode_instrumentation_scope(scope),
                schema_url=scope.schema_url if scope else None,
            ).SerializePartialToString()
            scope_spans += b"".join(_length_delimited(_SPANS, encoded) for encoded in encoded_spans)
            resource_spans += _length_delimited(_SCOPE_SPANS, scope_spans)
        request.append(_length_delimited(_RESOURCE_SPANS, resource_spans))
    return b"".join(request)


class SpanExporter(OTLPSpanExporter):
    """The SDK's OTLP/HTTP exporter (endpoint, headers, timeout, compression and retries from
    the ``OTEL_EXPORTER_OTLP_*`` variables) with :func:`request_bytes` as its encoder."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._shutdown:
            logger.warning("Exporter already shutdown, ignoring batch")
            return SpanExportResult.FAILURE
        with self._metrics.export_operation(len(spans)) as result:
            try:
                data = request_bytes(spans)
            except Exception as error:  # a span the encoder cannot write: drop the batch, say so
                logger.error("Failed to encode span batch: %s", error)
                result.error = error
                return SpanExportResult.FAILURE
            sent = self._client.export(data)
            if not sent.success:
                result.error = sent.error
                return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS
