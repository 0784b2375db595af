"""Email through Django's mail backend (SMTP in production, from ``EMAIL_*``)."""

import smtplib
from email.utils import make_msgid

from django.conf import settings
from django.core.mail import EmailMessage

from notifier.channels import PermanentDeliveryError, TransientDeliveryError


def email_send(*, to: str, subject: str, body: str) -> str:
    """Send one email; return its Message-ID."""
    message_id = make_msgid(domain=settings.EMAIL_MESSAGE_ID_DOMAIN)
    message = EmailMessage(
        subject, body, settings.DEFAULT_FROM_EMAIL, [to], headers={"Message-ID": message_id}
    )
    try:
        message.send()
    except smtplib.SMTPResponseException as exc:  # sender or data refused, with a reply code
        raise _by_code(exc.smtp_code, exc.smtp_error) from exc
    except smtplib.SMTPRecipientsRefused as exc:
        code, reply = next(iter(exc.recipients.values()))
        raise _by_code(code, reply) from exc
    except (smtplib.SMTPException, OSError) as exc:  # refused, reset, timed out, disconnected
        raise TransientDeliveryError(f"SMTP server unreachable: {exc!r}") from exc
    return message_id


def _by_code(code: int, reply: bytes | str) -> Exception:
    text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
    detail = f"SMTP {code} {text}"
    # 4xx: try again later; 5xx: refused for good.
    if 400 <= code < 500:
        return TransientDeliveryError(detail)
    return PermanentDeliveryError(detail)
