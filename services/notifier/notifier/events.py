"""The events the notifier consumes; it reads only the fields it needs from the payload."""

import unicodedata
from dataclasses import dataclass
from datetime import datetime

from ecomms_common.events import Envelope, MalformedEvent

ORDER_PLACED = "order.placed"


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
class OrderPlaced:
    """What an ``order.placed`` v1 event tells the notifier."""

    order_id: int
    total_amount: str
    currency: str
    customer_name: str
    customer_phone: str
    item_count: int
    occurred_at: datetime

    @classmethod
    def from_envelope(cls, envelope: Envelope) -> "OrderPlaced":
        """Read the event; raise ``MalformedEvent`` naming the first thing that is wrong."""
        if envelope.event_type != ORDER_PLACED or envelope.event_version != 1:
            raise MalformedEvent(f"not handled: {envelope.event_type} v{envelope.event_version}")
        data = envelope.data
        try:
            customer = data["customer"]
            order = cls(
                order_id=int(data["order_id"]),
                total_amount=str(data["total_amount"]),
                currency=str(data["currency"]),
                customer_name=str(customer["full_name"]),
                customer_phone=str(customer.get("phone") or ""),
                item_count=len(data["items"]),
                occurred_at=datetime.fromisoformat(envelope.occurred_at),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise MalformedEvent(f"order.placed v1 payload: {exc!r}") from exc
        if order.occurred_at.tzinfo is None:
            raise MalformedEvent("occurred_at must carry a UTC offset")
        return order

    def sms_text(self) -> str:
        return (
            f"Your order #{self.order_id} has been placed. "
            f"Total: {self.total_amount} {self.currency}. Thank you!"
        )

    def email_subject(self) -> str:
        return f"New order #{self.order_id}"

    def email_body(self) -> str:
        return (
            f"Customer: {one_line(self.customer_name)}\n"
            f"Total: {self.total_amount} {self.currency}\n"
            f"Items: {self.item_count}"
        )
