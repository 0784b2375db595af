"""An HTTP session for calls to other services: correlation id on every call, never unbounded."""

from typing import Any

import requests

from ecomms_common.correlation import HEADER, current_request_id

# (connect, read) seconds; a caller may pass its own per call.
DEFAULT_TIMEOUT = (3.05, 10.0)


class OutboundSession(requests.Session):
    """``requests.Session`` that forwards ``X-Request-ID`` and always sets a timeout."""

    def __init__(self, *, timeout: float | tuple[float, float] = DEFAULT_TIMEOUT):
        super().__init__()
        self.default_timeout = timeout

    def request(self, method: str | bytes, url: str | bytes, **kwargs: Any) -> requests.Response:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        request_id = current_request_id()
        if request_id:
            headers = dict(kwargs.get("headers") or {})
            headers.setdefault(HEADER, request_id)
            kwargs["headers"] = headers
        return super().request(method, url, **kwargs)
