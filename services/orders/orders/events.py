"""The events orders publishes (through the outbox); examples of each are in ../contracts/."""

from decimal import Decimal
from typing import Any

from ecomms_common.events import Envelope
from orders.models import Customer, Order

PRODUCER = "orders"
ORDER_PLACED = "order.placed"
ORDER_CANCELLED = "order.cancelled"
ORDER_PAID = "order.paid"


def money(amount: Decimal) -> str:
    """Return an amount as the events carry it: a string with two decimals."""
    return f"{amount:.2f}"


def _customer(customer: Customer) -> dict[str, Any]:
    return {
        "id": customer.sub,
        "email": customer.email,
        "full_name": customer.display_name,
        "phone": customer.phone or None,
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
