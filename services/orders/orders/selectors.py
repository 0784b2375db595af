"""Reads: which orders a caller may see; the answer stored under an idempotency key."""

from django.db.models import QuerySet
from django.utils import timezone

from ecomms_common.auth import GatewayUser
from orders.errors import IdempotencyKeyReused
from orders.models import Customer, IdempotencyKey, Order


def order_list(
    *, user: GatewayUser, customer_sub: str | None = None, status: str | None = None
) -> QuerySet[Order]:
    """Return the orders the caller may see, newest first: their own, or all for an admin.

    ``customer_sub`` and ``status`` filter the admin's view; a customer only ever sees their own.
    """
    orders = Order.objects.select_related("customer").prefetch_related("items")
    if user.is_admin:
        if customer_sub:
            orders = orders.filter(customer__sub=customer_sub)
    else:
        orders = orders.filter(customer__sub=user.sub)
    if status:
        orders = orders.filter(status=status)
    return orders.order_by("-placed_at", "-id")


def order_get(*, user: GatewayUser, order_id: int) -> Order | None:
    """Return the order if the caller may see it (another customer's order is as good as absent)."""
    return order_list(user=user).filter(pk=order_id).first()


def idempotency_key_get(
    *, customer: Customer, key: str, request_hash: str
) -> IdempotencyKey | None:
    """Return the customer's unexpired key with its stored answer, or ``None`` if there is none.

    Raise ``IdempotencyKeyReused`` (422) when the key was used with another request body.
    """
    record = IdempotencyKey.objects.filter(
        customer=customer, key=key, expires_at__gt=timezone.now()
    ).first()
    if record is not None and record.request_hash != request_hash:
        raise IdempotencyKeyReused(details={"Idempotency-Key": key})
    return record
