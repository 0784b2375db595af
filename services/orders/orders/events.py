"""The events orders publishes (through the outbox); examples of each are in ../contracts/."""

from decimal import Decimal
from typing import Any

from ecomms_common.events import Envelope
from orders.models import Customer, Order, PhoneVerification

PRODUCER = "orders"
ORDER_PLACED = "order.placed"
ORDER_CANCELLED = "order.cancelled"
ORDER_PAID = "order.paid"
PHONE_VERIFICATION_REQUESTED = "customer.phone_verification_requested"


def money(amount: Decimal) -> str:
    """Return an amount as the events carry it: a string with two decimals."""
    return f"{amount:.2f}"


def _customer(customer: Customer) -> dict[str, Any]:
    return {
        "id": customer.sub,
        "email": customer.email,
        "full_name": customer.display_name,
        # Only a number whose holder confirmed its code: null otherwise, and no SMS is sent.
        "phone": customer.notification_phone,
    }


def order_placed_event(*, order: Order) -> Envelope:
    """Return the ``order.placed`` v1 event of a newly placed order."""
    data = {
        "order_id": order.pk,
        "status": order.status,
        "currency": order.currency,
        "total_amount": money(order.total_amount),
        "placed_at": order.placed_at.isoformat(),
        "customer": _customer(order.customer),
        "items": [
            {
                "product_id": item.product_id,
                "name": item.product_name,
                "quantity": item.quantity,
                "unit_price": money(item.unit_price),
            }
            for item in order.items.all()
        ],
    }
    return Envelope(event_type=ORDER_PLACED, event_version=1, producer=PRODUCER, data=data)


def order_status_changed_event(
    *, order: Order, event_type: str, previous_status: str, changed_by: str
) -> Envelope:
    """Return the ``order.cancelled`` or ``order.paid`` v1 event of a status change."""
    data = {
        "order_id": order.pk,
        "status": order.status,
        "previous_status": previous_status,
        "currency": order.currency,
        "total_amount": money(order.total_amount),
        "placed_at": order.placed_at.isoformat(),
        "changed_at": order.updated_at.isoformat(),
        "changed_by": changed_by,
        "customer": _customer(order.customer),
    }
    return Envelope(event_type=event_type, event_version=1, producer=PRODUCER, data=data)


def phone_verification_requested_event(*, verification: PhoneVerification, code: str) -> Envelope:
    """Return the ``customer.phone_verification_requested`` v1 event: the code to text.

    The only place the code itself is written: the notifier needs it to send the SMS. Its outbox
    row holds it until it is published (see the README, "Phone verification").
    """
    data = {
        "verification_id": str(verification.pk),
        "customer_id": verification.customer.sub,
        "phone": verification.phone,
        "code": code,
        "expires_at": verification.expires_at.isoformat(),
    }
    return Envelope(
        event_type=PHONE_VERIFICATION_REQUESTED, event_version=1, producer=PRODUCER, data=data
    )
