"""A local HTTP server answering like Africa's Talking's ``POST /version1/messaging``.

It accepts the SDK's form POST (``username``, ``to``, ``message``, optional ``from``) with an
``apiKey`` header and answers ``{"SMSMessageData": {"Message": ..., "Recipients": [...]}}`` with
content-type ``application/json``, logging every message. ``reply`` decides each answer (tests
use it to answer 5xx, refuse a number or hold a request). With ``record``, every accepted message is
also appended to that file as one JSON line (``to``, ``message``, ``sender_id``, ``received_at``),
so that another process (the end-to-end tests, ``make demo``) can read what was sent.
"""

import argparse
import json
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

from ecomms_standins.serving import ServerThread, serve_until_stopped

logger = logging.getLogger(__name__)

STATUS_NAMES = {
    100: "Processed",
    101: "Success",
    102: "Queued",
    403: "InvalidPhoneNumber",
    405: "InsufficientBalance",
    500: "InternalServerError",
    501: "GatewayError",
}


@dataclass(frozen=True)
class ReceivedSms:
    username: str
    api_key: str
    to: str
    message: str
    sender_id: str | None


@dataclass(frozen=True)
class Answer:
    """The HTTP status of the reply and each recipient's ``statusCode``."""

    http_status: int = 201
    status_code: int = 101


class DropRequest(Exception):
    """Raised by a ``reply`` function: close the connection without answering."""


def accept_every_message(sms: ReceivedSms) -> Answer:
    return Answer()


class SmsStandIn:
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        reply: Callable[[ReceivedSms], Answer] = accept_every_message,
        record: Path | None = None,
    ) -> None:
        self.reply = reply
        self.record = record
        self.requests: list[ReceivedSms] = []  # every request that reached it
        self.accepted: list[ReceivedSms] = []  # those answered with an accepted status
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer((host, port), self._handler_class())
        self.server.daemon_threads = True
        self.host, self.port = self.server.server_address[:2]
        self._serving = ServerThread(self.server)

    @property
    def url(self) -> str:
        """The base URL to give as ``AFRICASTALKING_BASE_URL``."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> "SmsStandIn":
        self._serving.start()
        return self

    def stop(self) -> None:
        self._serving.close()

    def _record(self, accepted: list[ReceivedSms]) -> None:
        if self.record is None or not accepted:
            return
        received_at = datetime.now(UTC).isoformat()
        lines = "".join(
            json.dumps(
                {
                    "to": sms.to,
                    "message": sms.message,
                    "sender_id": sms.sender_id,
                    "received_at": received_at,
                }
            )
            + "\n"
            for sms in accepted
        )
        self.record.parent.mkdir(parents=True, exist_ok=True)
        with self.record.open("a", encoding="utf-8") as file:
            file.write(lines)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            # Keep connections open between requests, as Africa's Talking's API does.
            protocol_version = "HTTP/1.1"
            # Headers and body go out as two writes: without this, Nagle's algorithm and the
            # client's delayed ACK hold every reply on a kept-open connection for 40 ms.
            disable_nagle_algorithm = True

            def do_GET(self) -> None:
                if self.path == "/healthz":  # for a process supervisor; not Africa's Talking's
                    return self._send(200, "text/plain", b"ok")
                return self._send(404, "text/plain", b"Not found")

            def do_POST(self) -> None:
                if self.path.rstrip("/") != "/version1/messaging":
                    return self._send(404, "text/plain", b"Not found")
                api_key = self.headers.get("apiKey", "")
                if not api_key:
                    return self._send(401, "text/plain", b"The supplied authentication is invalid")
                length = int(self.headers.get("Content-Length", 0))
                form = parse_qs(self.rfile.read(length).decode())
                username = form.get("username", [""])[0]
                message = form.get("message", [""])[0]
                sender_id = form.get("from", [None])[0]
                numbers = [n for n in form.get("to", [""])[0].split(",") if n]
                received = [ReceivedSms(username, api_key, n, message, sender_id) for n in numbers]
                with standin._lock:
                    standin.requests.extend(received)
                try:
                    answers = [standin.reply(sms) for sms in received]
                except DropRequest:
                    self.close_connection = True
                    return None
                for sms, answer in zip(received, answers, strict=True):
                    logger.info(
                        "SMS to %s (%s): %s -> %s", sms.to, sms.sender_id, sms.message, answer
                    )
                http_status = max(answer.http_status for answer in answers)
                if http_status >= 300:
                    return self._send(http_status, "text/plain", b"Internal Server Error")
                recipients = [
                    {
                        "statusCode": answer.status_code,
                        "number": sms.to,
                        "status": STATUS_NAMES.get(answer.status_code, "Failed"),
                        "cost": "KES 0.8000" if answer.status_code < 200 else "0",
                        "messageId": f"ATXid_{uuid.uuid4().hex}"
                        if answer.status_code < 200
                        else "None",
                    }
                    for sms, answer in zip(received, answers, strict=True)
                ]
                sent = sum(1 for r in recipients if r["statusCode"] < 200)
                body = {
                    "SMSMessageData": {
                        "Message": f"Sent to {sent}/{len(recipients)} "
                        f"Total Cost: KES {0.8 * sent:.4f}",
                        "Recipients": recipients,
                    }
                }
                accepted = [
                    sms
                    for sms, answer in zip(received, answers, strict=True)
                    if answer.status_code < 200
                ]
                with standin._lock:
                    standin.accepted.extend(accepted)
                    standin._record(accepted)
                self._send(http_status, "application/json", json.dumps(body).encode())
                return None

            def _send(self, status: int, content_type: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args) -> None:
                logger.debug(format, *args)

        return Handler


def main(argv: list[str] | None = None) -> None:
    """Run the stand-in until SIGTERM or SIGINT (``ecomms-sms-standin``)."""
    parser = argparse.ArgumentParser(description="A local server answering like Africa's Talking.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9402)
    parser.add_argument(
        "--record",
        type=Path,
        default=None,
        help="Also append every accepted message to this file, one JSON object a line.",
    )
    options = parser.parse_args(argv)
    standin = SmsStandIn(options.host, options.port, record=options.record).start()
    where = f", messages recorded in {options.record}" if options.record else ""
    serve_until_stopped(f"Africa's Talking stand-in on {standin.url}{where}")
    standin.stop()
