import signal
import threading
from pathlib import Path

from django.core.management.base import BaseCommand

from notifier.devtools.smtp_sink import RecordingHandler, SmtpSink


class Command(BaseCommand):
    help = "Run a local SMTP server that logs every mail and keeps it as .eml (local runs only)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=1025)
        parser.add_argument("--maildir", type=Path, default=None, help="Folder for .eml files.")

    def handle(self, *args, host: str, port: int, maildir: Path | None, **options) -> None:
        sink = SmtpSink(RecordingHandler(maildir=maildir), host, port).start()
        where = f", mail kept in {maildir}" if maildir else ""
        self.stdout.write(f"SMTP sink on {host}:{sink.port}{where}", ending="\n")
        self.stdout.flush()
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        stop.wait()
        sink.stop()
