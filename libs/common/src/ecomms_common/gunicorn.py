"""Gunicorn settings shared by the web services.

A service's ``gunicorn.conf.py`` (read by ``gunicorn config.wsgi:application`` from its folder)
star-imports this and sets its default port::

    from ecomms_common.gunicorn import *  # noqa: F403
    from ecomms_common.gunicorn import bind_address

    bind = bind_address(default_port=8001)
"""

import os
import shutil
from pathlib import Path
from typing import Any

wsgi_app = "config.wsgi:application"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Threaded workers keep connections alive (gunicorn's sync worker closes every one), so a caller
# with a connection pool (the gateway, orders calling catalog) reuses its connections instead of
# opening one per request. Each thread holds its own database connection.
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = 5
# Gunicorn's control socket defaults to one path per user: several services on one host would
# fight over it, and nothing here uses it.
control_socket_disable = True
accesslog = "-"
access_log_format = "%(m)s %(U)s %(s)s %(B)sB %(M)sms request_id=%({x-request-id}o)s"
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        }
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json"}},
    "loggers": {
        "gunicorn.error": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "gunicorn.access": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}


def bind_address(*, default_port: int) -> str:
    """Return ``HOST:PORT`` from the environment (``0.0.0.0`` and the service's port by default)."""
    host = os.environ.get("HOST", "0.0.0.0")  # noqa: S104 - containers must listen on all interfaces
    return f"{host}:{os.environ.get('PORT', default_port)}"


def on_starting(server: Any) -> None:
    # With several workers, /metrics must aggregate them: prometheus_client's multiprocess mode
    # needs an empty directory at start.
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        shutil.rmtree(directory, ignore_errors=True)
        Path(directory).mkdir(parents=True)


def child_exit(server: Any, worker: Any) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def post_worker_init(worker: Any) -> None:
    # Django imports the URLconf, and with it every view module, on the first request: do it as
    # the worker starts, so that the first callers of a new worker do not wait for it.
    from importlib import import_module

    from django.apps import apps
    from django.conf import settings

    if apps.ready:  # not for a WSGI app that is no Django project (the benchmarks' stand-ins)
        import_module(settings.ROOT_URLCONF)


def worker_exit(server: Any, worker: Any) -> None:
    # A worker's tracer provider (set up by config.wsgi / config.asgi in the worker, after the
    # fork) exports the spans still waiting before the worker goes.
    from ecomms_common.tracing import tracing_shutdown

    tracing_shutdown()
