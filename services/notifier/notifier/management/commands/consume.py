import logging
import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand

from ecomms_common.ops_server import serving_ops
from ecomms_common.tracing import tracing_setup, tracing_shutdown
from notifier.worker import NotifierWorker

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "Consume order events and send their SMS and email until SIGTERM/SIGINT; serve /healthz, "
        "/readyz and /metrics on HOST:PORT meanwhile."
    )

    def handle(self, *args, **options) -> None:
        # Its database polls stay untraced: each would be a trace of its own.
        tracing_setup(database=False)
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        try:
            with serving_ops(host=settings.OPS_HOST, port=settings.OPS_PORT) as server:
                logger.info("probes and metrics on http://%s:%d", *server.server_address[:2])
                NotifierWorker(stop=stop).run()
        finally:
            tracing_shutdown()
