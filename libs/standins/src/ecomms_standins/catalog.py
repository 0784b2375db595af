"""A stand-in for the catalog's bulk price lookup, served over real HTTP on 127.0.0.1.

It answers ``GET /products/lookup/?ids=...`` as services/catalog/README.md documents, and can be
told to misbehave: answer slowly, fail a number of times, or send a body of its choosing.
``sample()`` is one that knows products 1..N (the orders benchmark serves it under gunicorn as
``ecomms_standins.catalog:sample()``); ``ecomms-catalog-standin --port 8001`` serves it alone.
"""

import argparse
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from ecomms_standins.serving import ServerThread, serve_until_stopped

IDS_RE = re.compile(r"^[1-9]\d{0,18}(,[1-9]\d{0,18}){0,199}$")


@dataclass
class CatalogStandIn:
    """The products it knows and how it should misbehave; a WSGI app."""

    products: dict[int, dict[str, str]] = field(default_factory=dict)
    delay_seconds: float = 0.0
    fail_next: int = 0  # answer this many requests with ``fail_status``
    fail_status: int = 503
    body: Any = None  # when set, sent as the JSON answer instead of the real one
    raw_body: bytes | None = None  # when set, sent as is (not JSON)
    requests: list[dict[str, str]] = field(default_factory=list)
    received: threading.Event = field(default_factory=threading.Event)
    on_request: Callable[[], None] | None = None  # run before answering (e.g. to cut a proxy)

    def add(self, product_id: int, name: str, price: str, currency: str = "USD") -> None:
        self.products[product_id] = {"name": name, "price": price, "currency": currency}

    def lookup(self, ids: list[int]) -> dict[str, Any]:
        found = [{"id": i, **self.products[i]} for i in ids if i in self.products]
        return {"products": found, "missing": [i for i in ids if i not in self.products]}

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        self.requests.append(
            {
                "path": environ["PATH_INFO"],
                "query": environ.get("QUERY_STRING", ""),
                "request_id": environ.get("HTTP_X_REQUEST_ID", ""),
            }
        )
        self.received.set()
        if self.on_request is not None:
            self.on_request()
        if self.delay_seconds:
            time.sleep(self.delay_seconds)
        if environ["PATH_INFO"] != "/products/lookup/":
            return _json(start_response, 404, {"error": {"code": "not_found"}})
        if self.fail_next > 0:
            self.fail_next -= 1
            return _json(start_response, self.fail_status, {"error": {"code": "unavailable"}})
        if self.raw_body is not None:
            start_response("200 OK", [("Content-Type", "text/html")])
            return [self.raw_body]
        if self.body is not None:
            return _json(start_response, 200, self.body)
        raw_ids = parse_qs(environ.get("QUERY_STRING", "")).get("ids", [""])[0]
        if not IDS_RE.match(raw_ids):
            return _json(
                start_response, 400, {"error": {"code": "invalid", "details": {"ids": []}}}
            )
        return _json(start_response, 200, self.lookup([int(i) for i in raw_ids.split(",")]))


def sample(product_count: int = 100) -> CatalogStandIn:
    """Return a stand-in knowing products 1..``product_count``, priced 0.99 to 16.99 USD."""
    app = CatalogStandIn()
    for product_id in range(1, product_count + 1):
        app.add(product_id, f"Product {product_id}", f"{product_id % 17 + 0.99:.2f}")
    return app


def _json(start_response: Any, status: int, body: Any) -> list[bytes]:
    payload = json.dumps(body).encode()
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found"}.get(status, "Error")
    start_response(
        f"{status} {reason}",
        [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))],
    )
    return [payload]


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class CatalogServer:
    """Serve a :class:`CatalogStandIn` (on an ephemeral port unless given) in a thread."""

    def __init__(self, app: CatalogStandIn, *, host: str = "127.0.0.1", port: int = 0):
        self.app = app
        server = make_server(
            host, port, app, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler
        )
        self._serving = ServerThread(server, poll_interval=0.05).start()

    @property
    def url(self) -> str:
        return self._serving.url

    def close(self) -> None:
        self._serving.close()


def main(argv: list[str] | None = None) -> None:
    """Serve :func:`sample` until SIGTERM or SIGINT (``ecomms-catalog-standin``)."""
    parser = argparse.ArgumentParser(description="A local catalog answering the bulk price lookup.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--products", type=int, default=100, help="It knows products 1..N.")
    options = parser.parse_args(argv)
    server = CatalogServer(sample(options.products), host=options.host, port=options.port)
    serve_until_stopped(f"Catalog stand-in on {server.url} knowing {options.products} products")
    server.close()
