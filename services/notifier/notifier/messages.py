"""What each event sends, and its texts: one table, and one template file per text.

The templates are in ``notifier/templates/notifier/messages/``; each sees the event as
``event`` (``notifier.events.OrderEvent`` or ``PhoneVerificationEvent``). They are plain text,
rendered by an engine of their own without HTML autoescaping: a customer named
``O'Brien & Sons`` is written as such, not as ``O&#x27;Brien &amp; Sons``. Values that come
from a customer are on one line already.
"""

from dataclasses import dataclass
from pathlib import Path

from django.template import Context, Engine

from notifier.events import (
    ORDER_CANCELLED,
    ORDER_PAID,
    ORDER_PLACED,
    PHONE_VERIFICATION_REQUESTED,
    NotifierEvent,
)

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates" / "notifier" / "messages"


@dataclass(frozen=True)
class EventMessages:
    """The templates of an event's messages; ``None`` where the event sends nothing."""

    sms: str | None = None  # to the event's number (``sms_to``)
    email_subject: str | None = None  # to the admins (ADMIN_EMAIL), with email_body
    email_body: str | None = None


MESSAGES: dict[str, EventMessages] = {
    ORDER_PLACED: EventMessages(
        sms="order_placed_sms.txt",
        email_subject="order_placed_email_subject.txt",
        email_body="order_placed_email_body.txt",
    ),
    ORDER_CANCELLED: EventMessages(
        sms="order_cancelled_sms.txt",
        email_subject="order_cancelled_email_subject.txt",
        email_body="order_cancelled_email_body.txt",
    ),
    ORDER_PAID: EventMessages(sms="order_paid_sms.txt"),
    PHONE_VERIFICATION_REQUESTED: EventMessages(sms="phone_verification_sms.txt"),
}

# debug=False: templates are compiled once and cached (Django's cached loader).
_engine = Engine(dirs=[str(TEMPLATES_DIR)], debug=False)


def message_render(template: str, *, event: NotifierEvent) -> str:
    """Return the text of ``template`` for ``event``, without the file's trailing newline."""
    context = Context({"event": event}, autoescape=False)
    return _engine.get_template(template).render(context).strip()
