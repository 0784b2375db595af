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
        parser.add_argument(
            "--record",
            type=Path,
            default=None,
            help="Also append every accepted mail's sender, recipients, subject and Message-ID "
            "to this file, one JSON object a line.",
        )

    def handle(
        self, *args, host: str, port: int, maildir: Path | None, record: Path | None, **options
    ) -> None:
        sink = SmtpSink(RecordingHandler(maildir=maildir, record=record), host, port).start()
        where = "".join(
            f", {what} {path}"
            for what, path in (("mail kept in", maildir), ("mail recorded in", record))
            if path
        )
        self.stdout.write(f"SMTP sink on {host}:{sink.port}{where}", ending="\n")
        self.stdout.flush()
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        stop.wait()
        sink.stop()
