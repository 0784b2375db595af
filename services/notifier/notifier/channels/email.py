"""Email through Django's mail backend (SMTP in production, from ``EMAIL_*``).

Each delivery thread keeps its own connection to the mail server open between messages (one
SMTP session, one ``MAIL FROM``/``RCPT TO``/``DATA`` per message) instead of connecting, greeting
and quitting for each one. A connection idle for longer than ``EMAIL_KEEPALIVE_SECONDS`` is
closed and opened again before the next message, so that a server's idle timeout never fails a
message; any error closes it too.
"""

import contextlib
import smtplib
import threading
import time
from email.utils import make_msgid

from django.conf import settings
from django.core.mail import EmailMessage, get_connection

from notifier.channels import PermanentDeliveryError, TransientDeliveryError

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
    connection = getattr(_local, "connection", None)
    _local.connection = None
    if connection is not None:
        with contextlib.suppress(Exception):
            connection.close()


def email_send(*, to: str, subject: str, body: str) -> str:
    """Send one email; return its Message-ID."""
    message_id = make_msgid(domain=settings.EMAIL_MESSAGE_ID_DOMAIN)
    message = EmailMessage(
        subject, body, settings.DEFAULT_FROM_EMAIL, [to], headers={"Message-ID": message_id}
    )
    try:
        _connection().send_messages([message])
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
