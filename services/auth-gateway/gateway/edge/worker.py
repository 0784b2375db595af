"""The gunicorn worker of the gateway: uvicorn on uvloop, with the edge's HTTP protocol.

``gunicorn.conf.py`` names it (``worker_class``), so ``gunicorn config.asgi:application`` keeps
gunicorn's process management, its hooks and Prometheus multiprocess mode.
"""

from uvicorn_worker import UvicornWorker

from gateway.edge.protocol import EdgeProtocol


class EdgeWorker(UvicornWorker):
    CONFIG_KWARGS = {
        "loop": "uvloop",
        "http": EdgeProtocol,
        "lifespan": "on",
        # The peer stays the peer: which forwarded headers to believe is the gateway's own rule
        # (TRUSTED_PROXY_NETWORKS), not uvicorn's.
        "proxy_headers": False,
    }
