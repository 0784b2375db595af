import contextlib
import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand
from prometheus_client import REGISTRY

from ecomms_common.ops_server import serving_ops
from ecomms_common.outbox.metrics import OutboxGauges
from ecomms_common.outbox.relay import OutboxRelay
from ecomms_common.tracing import tracing_setup, tracing_shutdown


class Command(BaseCommand):
    help = "Publish outbox rows to RabbitMQ until stopped (SIGTERM/SIGINT); safe to run several."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--once", action="store_true", help="Publish what is due now, then exit."
        )

    def handle(self, *args, once: bool = False, **options) -> None:
        # Its database polls stay untraced: each would be a trace of its own.
        tracing_setup(database=False)
        stop = threading.Event()
        relay = OutboxRelay(stop=stop)
        if once:
            try:
                total = 0
                while (published := relay.publish_batch()) == relay.batch_size:
                    total += published
                total += published
            finally:
                relay.disconnect()
            self.stdout.write(f"published {total} outbox rows")
            return
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        ops = contextlib.nullcontext()
        if settings.OUTBOX_RELAY_METRICS_PORT:
            REGISTRY.register(OutboxGauges())
            ops = serving_ops(
                host=settings.OUTBOX_RELAY_METRICS_HOST, port=settings.OUTBOX_RELAY_METRICS_PORT
            )
        try:
            with ops:
                relay.run()
        finally:
            tracing_shutdown()
