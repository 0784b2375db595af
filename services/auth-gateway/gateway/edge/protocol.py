"""The HTTP protocol of the edge server: uvicorn's httptools protocol, with limits of its own.

What no application can do, because it happens before there is a request to hand over:

- **header deadline**: a request's headers must be complete ``EDGE_HEADER_TIMEOUT_SECONDS``
  after its first byte (or after the connection opened); otherwise the client gets a 408
  ``request_timeout`` naming the deadline and the connection is closed. A connection that sends
  nothing at all is closed the same way.
- **connections per client address**: at most ``EDGE_MAX_CONNECTIONS_PER_CLIENT`` open
  connections from one peer address per worker (0: no cap); one more is answered 503
  ``too_many_connections`` and closed at once. Peers in ``TRUSTED_PROXY_NETWORKS`` (a load
  balancer speaking for many clients) are not capped.
- malformed requests get the gateway's JSON 400 instead of uvicorn's plain text, and a client
  that half-closes its side in the middle of a body still gets an answer (a 400 for the body
  shorter than its Content-Length); one answered before its body was read (401, 413) can read
  the answer while it finishes sending, then the connection is closed.

The body deadline is applied to ``receive`` (:mod:`gateway.edge.deadlines`). Nothing waits on a
client in a thread: a slow client costs a few kilobytes and a timer.
"""

import asyncio
from collections import Counter
from typing import Any, ClassVar

from django.conf import settings
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ecomms_common.forwarding import address_in
from gateway.edge.responses import json_error

# How long the rest of a body nobody will read is read away after the answer, at most.
LINGER_SECONDS = 5.0
STATUS_LINES = {400: b"Bad Request", 408: b"Request Timeout", 503: b"Service Unavailable"}


class GatheredWrites:
    """A connection's transport whose writes made in one turn of the event loop leave together.

    uvicorn writes a response's status line and headers, then its body: two writes, two
    segments, and a client that reads the head first wakes up twice. Here the writes made before
    control returns to the loop are joined and sent in one (at the end of that turn, or before
    the connection is closed); everything else is the transport's own.
    """

    __slots__ = ("_loop", "_parts", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._parts:
            self._loop.call_soon(self.flush)
        self._parts.append(data)

    def flush(self) -> None:
        parts, self._parts = self._parts, []
        if parts and not self._transport.is_closing():
            self._transport.write(parts[0] if len(parts) == 1 else b"".join(parts))

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class EdgeProtocol(HttpToolsProtocol):
    # Open connections by peer address, in this worker.
    open_by_address: ClassVar[Counter[str]] = Counter()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timer: asyncio.TimerHandle | None = None
        self.counted_address: str | None = None
        self.lingering: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.transport = GatheredWrites(transport, self.loop)
        address = self.client[0] if self.client else None
        cap = settings.EDGE_MAX_CONNECTIONS_PER_CLIENT
        if address and cap > 0 and not address_in(address, settings.TRUSTED_PROXY_NETWORKS):
            self.counted_address = address
            self.open_by_address[address] += 1
            if self.open_by_address[address] > cap:
                self.answer_and_close(
                    503,
                    "too_many_connections",
                    f"At most {cap} open connections per client address.",
                    max_connections=cap,
                )
                return
        self.arm_header_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self.cancel_header_deadline()
        if self.lingering is not None:
            self.lingering.cancel()
        if self.counted_address is not None:
            left = self.open_by_address[self.counted_address] - 1
            if left > 0:
                self.open_by_address[self.counted_address] = left
            else:
                del self.open_by_address[self.counted_address]
            self.counted_address = None
        super().connection_lost(exc)

    def eof_received(self) -> bool | None:
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete and cycle.more_body:
            # Half-closed in the middle of a body: hand over what came, keep the write side
            # open for the answer, then close.
            cycle.more_body = False
            cycle.keep_alive = False
            cycle.message_event.set()
            return True
        return None

    def on_response_complete(self) -> None:
        if self.cycle is not None and self.cycle.more_body and not self.transport.is_closing():
            # Answered before the body was read (a 401, a 413): read the rest away so that the
            # client, still sending, can read the answer; then close. For LINGER_SECONDS at most:
            # nothing else waits on it.
            self.server_state.total_requests += 1
            self.flow.resume_reading()
            self.lingering = self.loop.call_later(LINGER_SECONDS, self.transport.close)
            return
        super().on_response_complete()

    # Parser callbacks
    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self.header_timer is None:
            self.arm_header_deadline()

    def on_message_complete(self) -> None:
        if self.lingering is not None:
            self.transport.close()
            return
        super().on_message_complete()

    def on_headers_complete(self) -> None:
        self.cancel_header_deadline()
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:
        self.answer_and_close(400, "bad_request", msg)

    # Deadlines
    def arm_header_deadline(self) -> None:
        seconds = settings.EDGE_HEADER_TIMEOUT_SECONDS
        if seconds > 0:
            self.header_timer = self.loop.call_later(seconds, self.headers_too_slow, seconds)

    def cancel_header_deadline(self) -> None:
        if self.header_timer is not None:
            self.header_timer.cancel()
            self.header_timer = None

    def headers_too_slow(self, seconds: float) -> None:
        self.header_timer = None
        if self.cycle is not None and not self.cycle.response_complete:
            return  # still answering the previous request; the next one waits its turn
        self.answer_and_close(
            408,
            "request_timeout",
            f"The request headers did not arrive within {seconds:g} seconds.",
            timeout_seconds=seconds,
        )

    def answer_and_close(self, status: int, code: str, message: str, **details: Any) -> None:
        """Write a whole JSON error response and close the connection."""
        if self.transport.is_closing():
            return
        headers, body = json_error(status, code, message, close=True, **details)
        head = [b"HTTP/1.1 %d %s\r\n" % (status, STATUS_LINES[status])]
        head += [name + b": " + value + b"\r\n" for name, value in headers]
        self.transport.write(b"".join(head) + b"\r\n" + body)
        self.transport.close()
