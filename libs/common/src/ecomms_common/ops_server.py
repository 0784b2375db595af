"""Serve a background process's probes and metrics: the service's own Django app (its
``/healthz``, ``/readyz`` and ``/metrics``, see ecomms_common.health) in a thread beside the work.

The notifier's consumer and orders' outbox relay run it; a web process has gunicorn instead.
"""

import logging
import threading
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from django.core.wsgi import get_wsgi_application

logger = logging.getLogger(__name__)


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args) -> None:
        logger.debug(format, *args)


def serve_ops(*, host: str, port: int) -> WSGIServer:
    """Start serving ``/healthz``, ``/readyz``, ``/metrics`` in a thread; return the server."""
    server = make_server(
        host,
        port,
        get_wsgi_application(),
        server_class=_ThreadingWSGIServer,
        handler_class=_QuietHandler,
    )
    threading.Thread(target=server.serve_forever, name="ops-http", daemon=True).start()
    return server
