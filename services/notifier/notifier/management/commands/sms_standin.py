import signal
import threading
from pathlib import Path

from django.core.management.base import BaseCommand

from notifier.devtools.sms_standin import SmsStandIn


class Command(BaseCommand):
    help = "Run a local server that answers like Africa's Talking's SMS API (local runs only)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=9402)
        parser.add_argument(
            "--record",
            type=Path,
            default=None,
            help="Also append every accepted message to this file, one JSON object a line.",
        )

    def handle(self, *args, host: str, port: int, record: Path | None, **options) -> None:
        standin = SmsStandIn(host, port, record=record).start()
        where = f", messages recorded in {record}" if record else ""
        self.stdout.write(f"Africa's Talking stand-in on {standin.url}{where}", ending="\n")
        self.stdout.flush()
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        stop.wait()
        standin.stop()
