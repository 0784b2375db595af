"""The events the notifier consumes; it reads only the fields it needs from the payload.

What each event sends, and the texts, are in ``notifier/messages.py`` and its templates.
"""

import math
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime

from ecomms_common.events import Envelope, MalformedEvent

ORDER_PLACED = "order.placed"
ORDER_CANCELLED = "order.cancelled"
ORDER_PAID = "order.paid"
PHONE_VERIFICATION_REQUESTED = "customer.phone_verification_requested"
# (event_type, event_version) the notifier understands; its queue is bound to these routing keys.
HANDLED = {
    (ORDER_PLACED, 1),
    (ORDER_CANCELLED, 1),
    (ORDER_PAID, 1),
    (PHONE_VERIFICATION_REQUESTED, 1),
}
VERIFICATION_CODE_RE = re.compile(r"^[0-9]{4,10}$")


def one_line(value: str) -> str:
    """Return ``value`` with every control character (line breaks included) as one space.

    A value from a customer goes into a line of a message: a line break in it would write lines
    of the customer's own into the message.
    """
    if value.isprintable():
        return value
    return " ".join(
        "".join(" " if unicodedata.category(char) == "Cc" else char for char in value).split()
    )


@dataclass(frozen=True)
class OrderEvent:
    """What an ``order.placed``, ``order.cancelled`` or ``order.paid`` v1 event tells the notifier.

    ``item_count`` is read from ``order.placed`` only, ``changed_by`` from the status changes.
    ``customer_name`` and ``changed_by`` are on one line (``one_line``).
    """

    event_type: str
    order_id: int
    total_amount: str
    currency: str
    customer_name: str
    customer_phone: str
    occurred_at: datetime
    item_count: int | None = None
    changed_by: str = ""

    @property
    def sms_to(self) -> str:
        """The number the event's SMS goes to: the customer's phone, which orders puts in an
        order event only once its holder confirmed a code sent to it (empty: no SMS)."""
        return self.customer_phone

    sms_skipped_because = "the customer has no verified phone number"

    @classmethod
    def from_envelope(cls, envelope: Envelope) -> "OrderEvent":
        """Read the event; raise ``MalformedEvent`` naming the first thing that is wrong."""
        event_type = envelope.event_type
        if (event_type, envelope.event_version) not in HANDLED:
            raise MalformedEvent(f"not handled: {event_type} v{envelope.event_version}")
        data = envelope.data
        try:
            customer = data["customer"]
            event = cls(
                event_type=event_type,
                order_id=int(data["order_id"]),
                total_amount=str(data["total_amount"]),
                currency=str(data["currency"]),
                customer_name=one_line(str(customer["full_name"])),
                customer_phone=str(customer.get("phone") or ""),
                occurred_at=datetime.fromisoformat(envelope.occurred_at),
                item_count=len(data["items"]) if event_type == ORDER_PLACED else None,
                changed_by="" if event_type == ORDER_PLACED else one_line(str(data["changed_by"])),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise MalformedEvent(f"{event_type} v1 payload: {exc!r}") from exc
        if event.occurred_at.tzinfo is None:
            raise MalformedEvent("occurred_at must carry a UTC offset")
        return event


@dataclass(frozen=True)
class PhoneVerificationEvent:
    """What a ``customer.phone_verification_requested`` v1 event tells the notifier: a one-time
    code to text to the number being verified.

    The code is never logged; it is written only into the SMS (``Delivery.body``).
    """

    event_type: str
    verification_id: str
    phone: str
    code: str = field(repr=False)
    expires_at: datetime
    occurred_at: datetime

    sms_skipped_because = "the code expired before it could be sent"

    @property
    def sms_to(self) -> str:
        return self.phone

    @property
    def valid_minutes(self) -> int:
        """Return the code's lifetime as the producer set it, in whole minutes (at least 1)."""
        return max(1, math.ceil((self.expires_at - self.occurred_at).total_seconds() / 60))

    def expired(self, now: datetime) -> bool:
        return self.expires_at <= now

    @classmethod
    def from_envelope(cls, envelope: Envelope) -> "PhoneVerificationEvent":
        """Read the event; raise ``MalformedEvent`` naming the first thing that is wrong."""
        data = envelope.data
        try:
            event = cls(
                event_type=envelope.event_type,
                verification_id=str(data["verification_id"]),
                phone=str(data["phone"]),
                code=str(data["code"]),
                expires_at=datetime.fromisoformat(data["expires_at"]),
                occurred_at=datetime.fromisoformat(envelope.occurred_at),
            )
        except (KeyError, TypeError, ValueError) as exc:
            # A missing key's name or a date that does not parse: never the code.
            raise MalformedEvent(f"{envelope.event_type} v1 payload: {exc!r}") from exc
        if not isinstance(data["code"], str) or not VERIFICATION_CODE_RE.match(event.code):
            raise MalformedEvent("the code must be a string of 4 to 10 digits")
        if event.occurred_at.tzinfo is None or event.expires_at.tzinfo is None:
            raise MalformedEvent("occurred_at and expires_at must carry a UTC offset")
        return event


NotifierEvent = OrderEvent | PhoneVerificationEvent


def event_read(envelope: Envelope) -> NotifierEvent:
    """Read an event the notifier handles; raise ``MalformedEvent`` for any other."""
    if (envelope.event_type, envelope.event_version) == (PHONE_VERIFICATION_REQUESTED, 1):
        return PhoneVerificationEvent.from_envelope(envelope)
    return OrderEvent.from_envelope(envelope)
