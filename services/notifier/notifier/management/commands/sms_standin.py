import signal
import threading

from django.core.management.base import BaseCommand

from notifier.devtools.sms_standin import SmsStandIn


class Command(BaseCommand):
    help = "Run a local server that answers like Africa's Talking's SMS API (local runs only)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=9402)

    def handle(self, *args, host: str, port: int, **options) -> None:
        standin = SmsStandIn(host, port).start()
        self.stdout.write(f"Africa's Talking stand-in on {standin.url}", ending="\n")
        self.stdout.flush()
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        stop.wait()
        standin.stop()
