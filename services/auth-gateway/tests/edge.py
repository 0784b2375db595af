"""The gateway's real server for tests: ``config.asgi`` under uvicorn with the edge's protocol.

:class:`EdgeServer` runs in a thread of the test process, so the ``settings`` fixture, the
Prometheus registry and log handlers are shared with the test. :class:`EdgeClient` speaks the
Django test client's language (``get(path, HTTP_X_REQUEST_ID=...)``, ``.json()``,
``response["Header"]``): proxied paths go over a real connection to the edge; the gateway's own
paths (login, tokens, schema, metrics) stay on Django's test client, in the test's database
transaction.
"""

import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import uvicorn
from django.test import Client
from gateway.edge.protocol import EdgeProtocol
from gateway.edge.routes import route


class EdgeServer:
    """``config.asgi:application`` on 127.0.0.1 (an ephemeral port), in a thread."""

    def __init__(self) -> None:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        self.port = listener.getsockname()[1]
        config = uvicorn.Config(
            "config.asgi:application",
            loop="uvloop",
            http=EdgeProtocol,
            lifespan="on",
            proxy_headers=False,
            log_level="warning",
            access_log=False,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [listener]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the edge server did not start")
            time.sleep(0.01)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)


class EdgeResponse:
    """An answer read whole, with the parts of Django's test response the tests use."""

    streaming = True  # like Django's StreamingHttpResponse: the edge streams every answer

    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status_code = status
        self.headers = http.client.HTTPMessage()
        for name, value in headers:
            self.headers[name] = value
        self.content = body

    @property
    def streaming_content(self) -> Iterator[bytes]:
        return iter([self.content])

    def json(self) -> Any:
        return json.loads(self.content)

    def __getitem__(self, name: str) -> str:
        value = self.headers.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def has_header(self, name: str) -> bool:
        return name in self.headers

    def close(self) -> None:
        pass


class EdgeClient:
    """A test client: proxied paths through the edge server, the rest through Django's."""

    def __init__(self, server: EdgeServer, django_client: Client | None = None) -> None:
        self.server = server
        self.django = django_client or Client()

    @property
    def cookies(self):
        return self.django.cookies

    def get(self, path: str, data: Any = None, **extra: Any):
        return self.generic("GET", path, data, **extra)

    def head(self, path: str, data: Any = None, **extra: Any):
        return self.generic("HEAD", path, data, **extra)

    def options(self, path: str, data: Any = None, **extra: Any):
        return self.generic("OPTIONS", path, data, **extra)

    def post(self, path: str, data: Any = None, content_type: str | None = None, **extra: Any):
        return self.generic("POST", path, data, content_type=content_type, **extra)

    def put(self, path: str, data: Any = None, content_type: str | None = None, **extra: Any):
        return self.generic("PUT", path, data, content_type=content_type, **extra)

    def patch(self, path: str, data: Any = None, content_type: str | None = None, **extra: Any):
        return self.generic("PATCH", path, data, content_type=content_type, **extra)

    def delete(self, path: str, data: Any = None, content_type: str | None = None, **extra: Any):
        return self.generic("DELETE", path, data, content_type=content_type, **extra)

    def generic(
        self,
        method: str,
        path: str,
        data: Any = None,
        content_type: str | None = None,
        **extra: Any,
    ):
        if route(path.partition("?")[0]) is None:
            django_call = getattr(self.django, method.lower())
            if content_type is not None:
                extra["content_type"] = content_type
            return (
                django_call(path, data, **extra) if data is not None else django_call(path, **extra)
            )
        return self._over_the_wire(method, path, data, content_type, extra)

    def _over_the_wire(
        self, method: str, path: str, data: Any, content_type: str | None, extra: dict[str, Any]
    ) -> EdgeResponse:
        headers = {"Host": "testserver"}
        source = "127.0.0.1"
        for key, value in extra.items():
            if key.startswith("HTTP_"):
                headers[key.removeprefix("HTTP_").replace("_", "-").title()] = value
            elif key == "CONTENT_LENGTH":
                headers["Content-Length"] = value
            elif key == "CONTENT_TYPE":
                headers["Content-Type"] = value
            elif key == "REMOTE_ADDR" and value.startswith("127."):
                source = value  # the connection's own address: any of 127.0.0.0/8
            else:
                raise TypeError(f"{key} cannot be sent over a real connection")
        if content_type is not None:
            headers["Content-Type"] = content_type
        if isinstance(data, dict):
            data = json.dumps(data).encode()
        body = data or b""
        cookies = "; ".join(f"{name}={morsel.value}" for name, morsel in self.cookies.items())
        if cookies:
            headers["Cookie"] = cookies
        chunked = "chunked" in headers.get("Transfer-Encoding", "").lower()
        if method not in ("GET", "HEAD", "OPTIONS") and not chunked:
            headers.setdefault("Content-Length", str(len(body)))
        connection = http.client.HTTPConnection(
            "127.0.0.1", self.server.port, timeout=30, source_address=(source, 0)
        )
        try:
            connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for name, value in headers.items():
                connection.putheader(name, value)
            connection.endheaders()
            if chunked:
                if body:
                    connection.send(b"%x\r\n%s\r\n" % (len(body), body))
                connection.send(b"0\r\n\r\n")
            elif body:
                connection.send(body)
            answer = connection.getresponse()
            return EdgeResponse(answer.status, answer.getheaders(), answer.read())
        finally:
            connection.close()
