"""Read by ``gunicorn config.asgi:application`` when started from this folder."""

from ecomms_common.gunicorn import *  # noqa: F403
from ecomms_common.gunicorn import bind_address

bind = bind_address(default_port=8000)
wsgi_app = "config.asgi:application"
# One event loop per worker (uvicorn on uvloop, the edge's HTTP protocol): a proxied call or a
# slow client holds no thread; Django's own views run in its thread pool.
worker_class = "gateway.edge.worker.EdgeWorker"
