"""The gateway's own answers on the edge: JSON errors in the shape every service uses."""

import json
from collections.abc import Awaitable, Callable
from typing import Any

from ecomms_common.errors import error_body

type Send = Callable[[dict[str, Any]], Awaitable[None]]


def json_error(
    status: int, code: str, message: str, *, close: bool = False, **details: Any
) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """Return the headers and body of one of the gateway's JSON errors."""
    body = json.dumps(error_body(code, message, details)).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"x-content-type-options", b"nosniff"),
    ]
    if close:
        headers.append((b"connection", b"close"))
    return headers, body


async def send_json_error(
    send: Send,
    status: int,
    code: str,
    message: str,
    *,
    extra_headers: list[tuple[bytes, bytes]] | None = None,
    close: bool = False,
    **details: Any,
) -> None:
    """Send a whole JSON error response."""
    headers, body = json_error(status, code, message, close=close, **details)
    if extra_headers:
        headers += extra_headers
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
