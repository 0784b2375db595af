"""The body deadline: a request's body must have arrived ``EDGE_BODY_TIMEOUT_SECONDS`` after its
headers did, or the client gets a 408 and the connection is closed.

(The header deadline lives in :mod:`gateway.edge.protocol`: it must run before there is a request
to hand to an application.)
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from gateway.edge.responses import Send, json_error

type Receive = Callable[[], Awaitable[dict[str, Any]]]


class RequestTimeout(Exception):
    """The client did not send its request within the deadline."""

    def __init__(self, part: str, seconds: float) -> None:
        super().__init__(f"The request {part} did not arrive within {seconds:g} seconds.")
        self.seconds = seconds


class BodyDeadline:
    """Wrap an ASGI ``receive`` so that the whole body must arrive before a deadline.

    Raises :class:`RequestTimeout` (and sets ``expired``) once the deadline passes; after the last
    body message, later calls (those waiting for a disconnect) are passed through untimed.
    """

    __slots__ = ("_deadline", "_done", "_receive", "expired", "seconds")

    def __init__(self, receive: Receive, seconds: float) -> None:
        self._receive = receive
        self.seconds = seconds
        self._deadline = asyncio.get_running_loop().time() + seconds
        self._done = False
        self.expired = False

    async def __call__(self) -> dict[str, Any]:
        if self._done:
            return await self._receive()
        remaining = self._deadline - asyncio.get_running_loop().time()
        try:
            async with asyncio.timeout(max(0.0, remaining)):
                message = await self._receive()
        except TimeoutError:
            self.expired = True
            raise RequestTimeout("body", self.seconds) from None
        if message["type"] != "http.request" or not message.get("more_body", False):
            self._done = True
        return message


async def send_timeout(send: Send, error: RequestTimeout) -> None:
    """Answer 408 ``request_timeout`` and have the server close the connection."""
    headers, body = json_error(
        408, "request_timeout", str(error), close=True, timeout_seconds=error.seconds
    )
    await send({"type": "http.response.start", "status": 408, "headers": headers})
    await send({"type": "http.response.body", "body": body})
