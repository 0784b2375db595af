"""Writes: customers, phone verification, placing orders (with their outbox event), status
changes, idempotency keys."""

import logging
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import prefetch_related_objects
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from ecomms_common.auth import GatewayUser
from ecomms_common.outbox.models import OutboxMessage
from ecomms_common.outbox.services import outbox_enqueue
from orders.clients.catalog import catalog_client
from orders.errors import (
    CurrencyMismatch,
    IllegalTransition,
    PhoneChangeNeedsCode,
    PhoneCodeExpired,
    PhoneCodeWrong,
    TooManyPhoneCodeAttempts,
    TooManyPhoneCodes,
    UnknownProducts,
)
from orders.events import (
    ORDER_CANCELLED,
    ORDER_PAID,
    PHONE_VERIFICATION_REQUESTED,
    order_placed_event,
    order_status_changed_event,
    phone_verification_requested_event,
)
from orders.models import (
    Customer,
    IdempotencyKey,
    Order,
    OrderItem,
    OrderStatus,
    PhoneVerification,
)

logger = logging.getLogger(__name__)

UNSET: Any = object()


# Customers


def customer_from_user(*, user: GatewayUser) -> Customer:
    """Return the caller's customer, created on first use; email and name follow the token."""
    # The columns' limits, so that an odd claim cannot fail the request.
    email, name = user.email[:254], user.name[:255]
    customer, created = Customer.objects.get_or_create(
        sub=user.sub, defaults={"email": email, "token_name": name}
    )
    if not created and (customer.email, customer.token_name) != (email, name):
        customer.email, customer.token_name = email, name
        customer.save(update_fields=["email", "token_name", "updated_at"])
    return customer


def customer_update(
    *, customer: Customer, full_name: str = UNSET, phone: str | None = UNSET
) -> Customer:
    """Set the customer's own name; clear their phone (``None`` or empty).

    A number is only ever set by confirming its code (:func:`phone_verification_confirm`):
    ``phone`` may be empty, or the number the customer has already (nothing changes), and any
    other number is refused.
    """
    fields = []
    if full_name is not UNSET:
        customer.full_name = full_name
        fields.append("full_name")
    if phone is not UNSET:
        if not phone:
            customer.phone, customer.phone_verified_at = "", None
            fields += ["phone", "phone_verified_at"]
        elif phone != customer.phone:
            raise PhoneChangeNeedsCode(
                details={
                    "phone": [
                        "A new number must be confirmed by its code: "
                        "POST /customers/me/phone/verification/ with it."
                    ]
                }
            )
    if fields:
        customer.save(update_fields=[*fields, "updated_at"])
    return customer


# Phone verification
#
# A code is six random digits, texted by the notifier (the customer.phone_verification_requested
# event, through the outbox). Only an HMAC of it is kept, keyed with SECRET_KEY and bound to the
# verification's id and number, so the table alone does not give the code away (a plain hash of
# a six-digit code is reversed by trying all million). Limits: codes per customer and per number
# in a window; wrong codes per code, after which it is dead. Together they bound the guesses at
# any customer's or number's codes: MAX_ATTEMPTS x MAX_CODES per window.

PHONE_CODE_DIGITS = 6
# pg_advisory_xact_lock(class, key): serialises the sends to one number (key: hashtext(number)).
_PHONE_LOCK_CLASS = 1902


def phone_code_hash(*, verification: PhoneVerification, code: str) -> str:
    """Return the hex HMAC-SHA256 (keyed with SECRET_KEY) of a code for this verification."""
    message = f"{verification.pk}:{verification.phone}:{code}"
    return salted_hmac("orders.phone_verification", message, algorithm="sha256").hexdigest()


def _window_wait(times: list, *, limit: int, now) -> float | None:
    """Return the seconds until one of ``times`` (oldest first) leaves the window, when full."""
    if len(times) < limit:
        return None
    window = timedelta(seconds=settings.PHONE_VERIFICATION_WINDOW_SECONDS)
    return (times[len(times) - limit] + window - now).total_seconds()


def _recent_codes(**filters: Any) -> list:
    since = timezone.now() - timedelta(seconds=settings.PHONE_VERIFICATION_WINDOW_SECONDS)
    return list(
        PhoneVerification.objects.filter(created_at__gt=since, **filters)
        .order_by("created_at")
        .values_list("created_at", flat=True)
    )


def _customer_send_wait(*, customer: Customer, now) -> float | None:
    return _window_wait(
        _recent_codes(customer=customer),
        limit=settings.PHONE_VERIFICATION_MAX_CODES_PER_CUSTOMER,
        now=now,
    )


def phone_verification_start(*, customer: Customer, phone: str) -> PhoneVerification:
    """Send a new code to ``phone`` (E.164) for ``customer``; older codes can no longer be used.

    The verification and its ``customer.phone_verification_requested`` event commit together.
    Raise ``TooManyPhoneCodes`` when the customer, or the number, has had its codes for the window.
    """
    now = timezone.now()
    with transaction.atomic():
        # One send at a time per customer (row lock) and per number (advisory lock), so that
        # concurrent requests cannot each see room under a limit.
        Customer.objects.select_for_update().filter(pk=customer.pk).values_list("pk").first()
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [_PHONE_LOCK_CLASS, phone]
            )
        wait = _customer_send_wait(customer=customer, now=now)
        if wait is not None:
            raise TooManyPhoneCodes(wait=wait, details={"per": "customer"})
        wait = _window_wait(
            _recent_codes(phone=phone),
            limit=settings.PHONE_VERIFICATION_MAX_CODES_PER_NUMBER,
            now=now,
        )
        if wait is not None:
            raise TooManyPhoneCodes(wait=wait, details={"per": "number"})
        code = f"{secrets.randbelow(10**PHONE_CODE_DIGITS):0{PHONE_CODE_DIGITS}d}"
        verification = PhoneVerification(
            id=uuid.uuid4(),
            customer=customer,
            phone=phone,
            created_at=now,
            expires_at=now + timedelta(seconds=settings.PHONE_VERIFICATION_CODE_TTL_SECONDS),
        )
        verification.code_hash = phone_code_hash(verification=verification, code=code)
        verification.save(force_insert=True)
        outbox_enqueue(
            envelope=phone_verification_requested_event(verification=verification, code=code)
        )
    # Never the code; the number only in its last digits.
    logger.info(
        "phone verification %s sent to ...%s for customer %s",
        verification.pk,
        phone[-3:],
        customer.pk,
    )
    return verification


def phone_codes_redact(*, customer: Customer | None = None, created_before=None) -> int:
    """Blank the code in published verification events (the customer's, or those older than
    ``created_before``); return how many. Such a code can no longer be confirmed: this leaves
    it in the outbox only while its event waits to be published and the code may be used.
    """
    filters = ["event_type = %s", "published_at IS NOT NULL", "envelope->'data'->>'code' <> ''"]
    params: list[Any] = [PHONE_VERIFICATION_REQUESTED]
    if customer is not None:
        filters.append("envelope->'data'->>'customer_id' = %s")
        params.append(customer.sub)
    if created_before is not None:
        filters.append("created_at < %s")
        params.append(created_before)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {OutboxMessage._meta.db_table} "  # noqa: S608 - the table's name, no input
            "SET envelope = jsonb_set(envelope, '{data,code}', '\"\"') "
            f"WHERE {' AND '.join(filters)}",
            params,
        )
        return cursor.rowcount


def phone_verification_purge_old() -> int:
    """Delete verifications the limits no longer count and no one can confirm, and blank the
    codes of published verification events past their lifetime; return how many were deleted."""
    now = timezone.now()
    phone_codes_redact(
        created_before=now - timedelta(seconds=settings.PHONE_VERIFICATION_CODE_TTL_SECONDS)
    )
    age = max(
        settings.PHONE_VERIFICATION_WINDOW_SECONDS, settings.PHONE_VERIFICATION_CODE_TTL_SECONDS
    )
    deleted, _ = PhoneVerification.objects.filter(
        created_at__lt=now - timedelta(seconds=age)
    ).delete()
    return deleted


def phone_verification_confirm(*, customer: Customer, code: str) -> Customer:
    """Confirm the customer's newest code; its number becomes their phone, verified.

    Raise ``PhoneCodeWrong`` (the wrong attempt counted, committed), ``PhoneCodeExpired`` (no
    code open: expired, used, superseded or never sent) or ``TooManyPhoneCodeAttempts`` (the
    code took its ``PHONE_VERIFICATION_MAX_ATTEMPTS`` wrong codes and is dead).
    """
    now = timezone.now()
    max_attempts = settings.PHONE_VERIFICATION_MAX_ATTEMPTS
    with transaction.atomic():
        verification = (
            PhoneVerification.objects.select_for_update()
            .filter(customer=customer)
            .order_by("-created_at")
            .first()
        )
        if verification is None or verification.confirmed_at is not None:
            raise PhoneCodeExpired(details={"code": ["No code is waiting; request one."]})
        if verification.attempts >= max_attempts:
            wait = _customer_send_wait(customer=customer, now=now) or 0
            raise TooManyPhoneCodeAttempts(wait=wait)
        if verification.expires_at <= now:
            raise PhoneCodeExpired(details={"code": ["The code has expired; request a new one."]})
        matches = constant_time_compare(
            phone_code_hash(verification=verification, code=code), verification.code_hash
        )
        if not matches:
            verification.attempts += 1
            verification.save(update_fields=["attempts"])
        else:
            verification.confirmed_at = now
            verification.save(update_fields=["confirmed_at"])
            customer.phone, customer.phone_verified_at = verification.phone, now
            customer.save(update_fields=["phone", "phone_verified_at", "updated_at"])
        if matches or verification.attempts >= max_attempts:
            # Used or dead: none of the customer's codes can be confirmed any more.
            phone_codes_redact(customer=customer)
    if not matches:  # raised after the commit: the wrong attempt counts
        left = max_attempts - verification.attempts
        logger.info("phone verification %s: wrong code (%d left)", verification.pk, left)
        raise PhoneCodeWrong(details={"code": ["Wrong code."], "attempts_left": left})
    logger.info("phone verification %s confirmed by customer %s", verification.pk, customer.pk)
    return customer


# Placing orders


@dataclass(frozen=True)
class OrderLine:
    product_id: int
    quantity: int


def order_place(*, customer: Customer, items: Sequence[OrderLine], currency: str) -> Order:
    """Place an order at the catalog's current prices; write its ``order.placed`` event with it.

    Return the order with its customer and items loaded. The order, its items and its event
    commit together, in the caller's transaction when there is one.
    """
    lookup = catalog_client().products_lookup(product_ids=[line.product_id for line in items])
    if lookup.missing:
        raise UnknownProducts(
            f"Unknown product ids: {', '.join(map(str, sorted(lookup.missing)))}.",
            details={"product_ids": sorted(lookup.missing)},
        )
    mismatched = {
        str(product.id): product.currency
        for product in lookup.products.values()
        if product.currency != currency
    }
    if mismatched:
        raise CurrencyMismatch(
            f"Some products are not sold in {currency}.",
            details={"currency": currency, "products": mismatched},
        )
    total = sum(
        (lookup.products[line.product_id].price * line.quantity for line in items), Decimal("0")
    )
    with transaction.atomic():
        order = Order.objects.create(
            customer=customer, currency=currency, total_amount=total, status=OrderStatus.PENDING
        )
        OrderItem.objects.bulk_create(
            OrderItem(
                order=order,
                product_id=line.product_id,
                product_name=lookup.products[line.product_id].name,
                quantity=line.quantity,
                unit_price=lookup.products[line.product_id].price,
                currency=lookup.products[line.product_id].currency,
            )
            for line in items
        )
        # One read of the items just written serves the event and whoever renders the order.
        prefetch_related_objects([order], "items")
        outbox_enqueue(envelope=order_placed_event(order=order))
    logger.info("order placed", extra={"order_id": order.pk, "total": str(order.total_amount)})
    return order


# Status changes
#
# The one table of allowed changes: (from, to) -> the event the change publishes. Any other
# change is refused (409 illegal_transition) by order_status_change, the one place that checks.

ORDER_TRANSITIONS: dict[tuple[str, str], str] = {
    (OrderStatus.PENDING, OrderStatus.PAID): ORDER_PAID,
    (OrderStatus.PENDING, OrderStatus.CANCELLED): ORDER_CANCELLED,
}


def order_status_change(*, order: Order, to_status: str, changed_by: str) -> Order:
    """Move the order to ``to_status`` if ``ORDER_TRANSITIONS`` allows it; write its event.

    Raise ``IllegalTransition`` (409) for a change the table does not hold.
    """
    with transaction.atomic():
        locked = Order.objects.select_for_update().select_related("customer").get(pk=order.pk)
        previous = locked.status
        event_type = ORDER_TRANSITIONS.get((previous, to_status))
        if event_type is None:
            raise IllegalTransition(
                f"Order {locked.pk} is {previous}; it cannot become {to_status}.",
                details={"status": previous, "requested": to_status},
            )
        locked.status = to_status
        locked.save(update_fields=["status", "updated_at"])
        outbox_enqueue(
            envelope=order_status_changed_event(
                order=locked, event_type=event_type, previous_status=previous, changed_by=changed_by
            )
        )
    logger.info("order %s: %s -> %s by %s", locked.pk, previous, to_status, changed_by)
    return Order.objects.select_related("customer").prefetch_related("items").get(pk=locked.pk)


def order_cancel(*, order: Order, changed_by: str) -> Order:
    """Cancel the order (its owner or an admin); write ``order.cancelled``."""
    return order_status_change(order=order, to_status=OrderStatus.CANCELLED, changed_by=changed_by)


def order_mark_paid(*, order: Order, changed_by: str = "admin") -> Order:
    """Mark the order as paid (admins only); write ``order.paid``."""
    return order_status_change(order=order, to_status=OrderStatus.PAID, changed_by=changed_by)


# Idempotency keys: what orders.api.idempotency stores (see there for how a key is used).


class IdempotencyKeyTaken(Exception):
    """Another request committed an answer under the key first."""


def idempotency_record(
    *, customer: Customer, key: str, request_hash: str, status: int, body: Any
) -> IdempotencyKey:
    """Store the answer given under a key, in the transaction of the write it answers.

    Raise ``IdempotencyKeyTaken`` when another request has stored one under the key meanwhile
    (this waits for that request's transaction); the caller's transaction must then roll back.
    """
    now = timezone.now()
    IdempotencyKey.objects.filter(customer=customer, key=key, expires_at__lte=now).delete()
    try:
        return IdempotencyKey.objects.create(
            customer=customer,
            key=key,
            request_hash=request_hash,
            response_status=status,
            response_body=body,
            expires_at=now + timedelta(seconds=settings.IDEMPOTENCY_KEY_TTL_SECONDS),
        )
    except IntegrityError as exc:
        raise IdempotencyKeyTaken(key) from exc


def idempotency_purge_expired() -> int:
    """Delete expired keys; return how many."""
    deleted, _ = IdempotencyKey.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted
