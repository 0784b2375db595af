"""The events the notifier consumes; it reads only the fields it needs from the payload.

What each event sends, and the texts, are in ``notifier/messages.py`` and its templates.
"""

import unicodedata
from dataclasses import dataclass
from datetime import datetime

from ecomms_common.events import Envelope, MalformedEvent

ORDER_PLACED = "order.placed"
ORDER_CANCELLED = "order.cancelled"
ORDER_PAID = "order.paid"
# (event_type, event_version) the notifier understands; its queue is bound to these routing keys.
HANDLED = {(ORDER_PLACED, 1), (ORDER_CANCELLED, 1), (ORDER_PAID, 1)}


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
