"""Email through Django's mail backend (SMTP in production, from ``EMAIL_*``).

Each delivery thread keeps its own connection to the mail server open between messages (one
SMTP session, one ``MAIL FROM``/``RCPT TO``/``DATA`` per message) instead of connecting, greeting
and quitting for each one. A connection idle for longer than ``EMAIL_KEEPALIVE_SECONDS`` is
closed and opened again before the next message, so that a server's idle timeout never fails a
message; any error closes it too.

Over SMTP the message is written here, not by ``EmailMessage``: for a subject in printable ASCII
and lines of at most 998 bytes (every message the templates make) the bytes are exactly those
Django writes (the tests compare them), at a tenth of the CPU (Django parses and folds every
header and sanitizes both addresses for each message: about 0.5 ms here, the largest part of an
email's cost). Anything else, or another ``EMAIL_BACKEND``, goes through ``EmailMessage``.
"""

import functools
import re
import smtplib
import threading
import time
from email.utils import formatdate, make_msgid

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.core.mail.backends.smtp import EmailBackend as SmtpBackend
from django.core.mail.message import RFC5322_EMAIL_LINE_LENGTH_LIMIT, sanitize_address

from ecomms_common.tracing import client_span
from notifier.channels import (
    PermanentDeliveryError,
    TransientDeliveryError,
    thread_connection_close,
)

_local = threading.local()


def _connection():
    """Return this thread's open mail connection, opening a new one when needed."""
    connection = getattr(_local, "connection", None)
    idle = time.monotonic() - getattr(_local, "used_at", 0.0)
    key = (
        settings.EMAIL_BACKEND,
        settings.EMAIL_HOST,
        settings.EMAIL_PORT,
        settings.EMAIL_HOST_USER,
    )
    if connection is not None and (idle > settings.EMAIL_KEEPALIVE_SECONDS or _local.key != key):
        email_connection_close()
        connection = None
    if connection is None:
        connection = get_connection(fail_silently=False)
        connection.open()
        _local.connection, _local.key = connection, key
    return connection


def email_connection_close() -> None:
    """Close this thread's mail connection, if one is open."""
    thread_connection_close(_local)


@functools.lru_cache(maxsize=32)
def _address(address: str, encoding: str) -> str:
    """Return an address as Django's SMTP backend writes it, in the envelope and the header."""
    return sanitize_address(address, encoding)


_LINE_END = re.compile(r"\r\n|\r|\n")


def plain_message(*, to: str, subject: str, body: str, message_id: str) -> bytes | None:
    """Return the bytes ``EmailMessage(subject, body, DEFAULT_FROM_EMAIL, [to])`` sends, with
    ``message_id``; ``None`` where Django would write them otherwise (an encoded subject, a line
    it would encode as quoted-printable): send those through ``EmailMessage``."""
    encoding = settings.DEFAULT_CHARSET
    if encoding.lower() != "utf-8" or not subject.isascii() or not subject.isprintable():
        return None
    lines = _LINE_END.split(body)
    if any(
        len(line.encode(errors="surrogateescape")) > RFC5322_EMAIL_LINE_LENGTH_LIMIT
        for line in lines
    ):
        return None
    if len(subject) > 900:  # Django would fold it
        return None
    headers = (
        'Content-Type: text/plain; charset="utf-8"\r\n'
        "MIME-Version: 1.0\r\n"
        f"Content-Transfer-Encoding: {'7bit' if body.isascii() else '8bit'}\r\n"
        f"Subject: {subject}\r\n"
        f"From: {_address(settings.DEFAULT_FROM_EMAIL, encoding)}\r\n"
        f"To: {_address(to, encoding)}\r\n"
        f"Date: {formatdate(localtime=settings.EMAIL_USE_LOCALTIME)}\r\n"
        f"Message-ID: {message_id}\r\n"
    )
    return (headers + "\r\n" + "\r\n".join(lines)).encode(errors="surrogateescape")


def email_send(*, to: str, subject: str, body: str) -> str:
    """Send one email; return its Message-ID."""
    attributes = {"server.address": settings.EMAIL_HOST, "server.port": settings.EMAIL_PORT}
    with client_span("SMTP send", attributes):
        return _send(to=to, subject=subject, body=body)


def _send(*, to: str, subject: str, body: str) -> str:
    message_id = make_msgid(domain=settings.EMAIL_MESSAGE_ID_DOMAIN)
    try:
        backend = _connection()
        plain = plain_message(to=to, subject=subject, body=body, message_id=message_id)
        if plain is not None and isinstance(backend, SmtpBackend) and backend.connection:
            # What SmtpBackend.send_messages does for one message, with the bytes built above.
            encoding = settings.DEFAULT_CHARSET
            backend.connection.sendmail(
                _address(settings.DEFAULT_FROM_EMAIL, encoding), [_address(to, encoding)], plain
            )
        else:
            message = EmailMessage(
                subject, body, settings.DEFAULT_FROM_EMAIL, [to], headers={"Message-ID": message_id}
            )
            backend.send_messages([message])
    except smtplib.SMTPResponseException as exc:  # sender or data refused, with a reply code
        email_connection_close()
        raise _by_code(exc.smtp_code, exc.smtp_error) from exc
    except smtplib.SMTPRecipientsRefused as exc:
        email_connection_close()
        code, reply = next(iter(exc.recipients.values()))
        raise _by_code(code, reply) from exc
    except (smtplib.SMTPException, OSError) as exc:  # refused, reset, timed out, disconnected
        email_connection_close()
        raise TransientDeliveryError(f"SMTP server unreachable: {exc!r}") from exc
    _local.used_at = time.monotonic()
    return message_id


def _by_code(code: int, reply: bytes | str) -> Exception:
    text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
    detail = f"SMTP {code} {text}"
    # 4xx: try again later; 5xx: refused for good.
    if 400 <= code < 500:
        return TransientDeliveryError(detail)
    return PermanentDeliveryError(detail)
