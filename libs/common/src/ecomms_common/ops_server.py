"""Serve a background process's probes and metrics: the service's own Django app (its
``/healthz``, ``/readyz`` and ``/metrics``, see ecomms_common.health) in a thread beside the work.

The notifier's consumer and orders' outbox relay run it; a web process has gunicorn instead.
"""

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from django.core.wsgi import get_wsgi_application

logger = logging.getLogger(__name__)


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args) -> None:
        logger.debug(format, *args)


@contextmanager
def serving_ops(*, host: str, port: int) -> Iterator[WSGIServer]:
    """Serve ``/healthz``, ``/readyz``, ``/metrics`` in a thread for the block; then stop it.

    However the block ends, the server stops and its port is freed before the block is left.
    """
    server = make_server(
        host,
        port,
        get_wsgi_application(),
        server_class=_ThreadingWSGIServer,
        handler_class=_QuietHandler,
    )
    threading.Thread(target=server.serve_forever, name="ops-http", daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
