"""A local SMTP server (aiosmtpd) that keeps every message it accepts, in memory and optionally as
``.eml`` files in a folder or as one JSON line each in a file, and logs it. ``reply`` decides
each answer (tests answer 451 or 550).

A message is parsed only when it is read (``messages``) or logged at INFO: parsing with the
modern email policy costs more than everything else the sink does for a message, which matters
when the sink keeps up with a benchmark.
"""

import argparse
import asyncio
import email
import email.policy
import json
import logging
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from pathlib import Path

from aiosmtpd.smtp import SMTP, Envelope, Session

from ecomms_standins.serving import serve_until_stopped

logger = logging.getLogger(__name__)

ACCEPTED = "250 Message accepted for delivery"


def _parse(content: bytes) -> EmailMessage:
    return email.message_from_bytes(content, policy=email.policy.default)


class Mailbox(Sequence):
    """The messages a sink accepted, kept as received and parsed each time one is read.

    Not a property that parses them all: aiosmtpd reads every attribute of its handler
    (``inspect.getmembers``) for each new connection."""

    def __init__(self) -> None:
        self.contents: list[bytes] = []

    def __len__(self) -> int:
        return len(self.contents)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [_parse(content) for content in self.contents[index]]
        return _parse(self.contents[index])

    def __iter__(self) -> Iterator[EmailMessage]:
        return (_parse(content) for content in self.contents)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence):
            return NotImplemented
        return list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]


class RecordingHandler:
    """Accept (or, with ``reply``, refuse) every message; keep the accepted ones in memory, and
    also as ``.eml`` files in ``maildir`` and as JSON lines in ``record`` when given (``mail_from``,
    ``rcpt_tos``, ``subject``, ``message_id``, ``received_at``: what another process needs to
    count messages and tell them apart without parsing each file)."""

    def __init__(
        self,
        *,
        maildir: Path | None = None,
        record: Path | None = None,
        reply: Callable[[Envelope], str] | None = None,
    ) -> None:
        self.maildir = maildir
        self.record = record
        self.reply = reply
        self.messages = Mailbox()  # every accepted message
        self.attempts = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.attempts += 1
        answer = self.reply(envelope) if self.reply else ACCEPTED
        if not answer.startswith("250"):
            logger.info("refused mail to %s: %s", envelope.rcpt_tos, answer)
            return answer
        self.messages.contents.append(envelope.content)
        if self.maildir is not None:
            self.maildir.mkdir(parents=True, exist_ok=True)
            (self.maildir / f"{uuid.uuid4().hex}.eml").write_bytes(envelope.content)
        if self.record is not None:
            self._record(envelope)
        if logger.isEnabledFor(logging.INFO):
            message = _parse(envelope.content)
            logger.info(
                "mail from %s to %s: %s\n%s",
                envelope.mail_from,
                ", ".join(envelope.rcpt_tos),
                message["Subject"],
                message.get_content(),
            )
        return answer

    def _record(self, envelope: Envelope) -> None:
        headers = BytesHeaderParser().parsebytes(envelope.content)
        line = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "subject": headers["Subject"],
            "message_id": headers["Message-ID"],
            "received_at": datetime.now(UTC).isoformat(),
        }
        self.record.parent.mkdir(parents=True, exist_ok=True)
        with self.record.open("a", encoding="utf-8") as file:
            file.write(json.dumps(line) + "\n")


class SmtpSink:
    """Run an aiosmtpd server on its own event loop thread; ``port=0`` picks a free port."""

    def __init__(self, handler: RecordingHandler, host: str = "127.0.0.1", port: int = 0) -> None:
        self.handler = handler
        self.host = host
        self._requested_port = port
        self.port = port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None

    def start(self) -> "SmtpSink":
        self._thread.start()
        create = self._loop.create_server(
            lambda: SMTP(self.handler, hostname="smtp-sink.local"), self.host, self._requested_port
        )
        self._server = asyncio.run_coroutine_threadsafe(create, self._loop).result(10)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        async def close() -> None:
            assert self._server is not None
            self._server.close()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def main(argv: list[str] | None = None) -> None:
    """Run the sink until SIGTERM or SIGINT (``ecomms-smtp-sink``)."""
    parser = argparse.ArgumentParser(description="A local SMTP server that keeps every mail.")
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
    options = parser.parse_args(argv)
    handler = RecordingHandler(maildir=options.maildir, record=options.record)
    sink = SmtpSink(handler, options.host, options.port).start()
    where = "".join(
        f", {what} {path}"
        for what, path in (("mail kept in", options.maildir), ("mail recorded in", options.record))
        if path
    )
    serve_until_stopped(f"SMTP sink on {options.host}:{sink.port}{where}")
    sink.stop()
