import uuid

from django.db import models
from django.utils import timezone


class Customer(models.Model):
    """A customer, keyed by the gateway's stable user id (the token's ``sub``)."""

    sub = models.CharField(max_length=255, unique=True, help_text="The gateway's user id.")
    email = models.EmailField(max_length=254, blank=True, help_text="Follows the token.")
    token_name = models.CharField(max_length=255, blank=True, help_text="Follows the token.")
    full_name = models.CharField(
        max_length=255, blank=True, help_text="Set by the customer; the token's name if empty."
    )
    phone = models.CharField(max_length=20, blank=True, help_text="E.164, e.g. +254712345678.")
    phone_verified_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the phone's holder confirmed its code; null: not verified, never texted.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.email or self.sub

    @property
    def display_name(self) -> str:
        return self.full_name or self.token_name

    @property
    def phone_verified(self) -> bool:
        return bool(self.phone) and self.phone_verified_at is not None

    @property
    def notification_phone(self) -> str | None:
        """Return the number order SMS may go to: the phone, only once its code was confirmed."""
        return self.phone if self.phone_verified else None


class PhoneVerification(models.Model):
    """A one-time code sent to a number for a customer to confirm that they hold it.

    Only an HMAC of the code is kept (``orders.services.phone_code_hash``). Rows stay for the
    rate window (they are what the limits count); the newest row of a customer is the only code
    that can still be confirmed.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="phone_verifications"
    )
    phone = models.CharField(max_length=20, help_text="E.164, the number the code was sent to.")
    code_hash = models.CharField(max_length=64, help_text="HMAC-SHA256 of the code, hex.")
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Wrong codes entered.")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    confirmed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["customer", "-created_at"], name="phone_verif_customer_idx"),
            models.Index(fields=["phone", "-created_at"], name="phone_verif_phone_idx"),
            models.Index(fields=["created_at"], name="phone_verif_created_idx"),
        ]

    def __str__(self) -> str:
        return f"verification {self.pk} ({'confirmed' if self.confirmed_at else 'open'})"


class OrderStatus(models.TextChoices):
    PENDING = "PENDING"
    PAID = "PAID"
    CANCELLED = "CANCELLED"


class Order(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="orders")
    status = models.CharField(
        max_length=10, choices=OrderStatus.choices, default=OrderStatus.PENDING
    )
    currency = models.CharField(max_length=3)
    total_amount = models.DecimalField(max_digits=16, decimal_places=2)
    placed_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-placed_at", "-id"]
        indexes = [
            models.Index(
                fields=["customer", "-placed_at", "-id"], name="order_customer_recent_idx"
            ),
            models.Index(fields=["status", "-placed_at"], name="order_status_recent_idx"),
            models.Index(fields=["-placed_at", "-id"], name="order_recent_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(total_amount__gte=0), name="order_total_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"order {self.pk} ({self.status})"


class OrderItem(models.Model):
    """One line of an order, with the catalog's price and name as they were when it was placed."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="items")
    product_id = models.PositiveBigIntegerField(help_text="The catalog's product id.")
    product_name = models.CharField(max_length=255)
    quantity = models.PositiveIntegerField()
    unit_price = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["order", "product_id"], name="order_item_product_once"),
            models.CheckConstraint(
                condition=models.Q(quantity__gte=1), name="item_quantity_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(unit_price__gte=0), name="item_unit_price_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.product_id} @ {self.unit_price} {self.currency}"


class IdempotencyKey(models.Model):
    """A customer's ``Idempotency-Key``: the request it placed an order for and its response.

    Written only in the transaction that places the order: a key has a row exactly when an order
    was committed under it, so a request that fails, however it fails, leaves the key free.
    """

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64, help_text="SHA-256 of the canonical body.")
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["customer", "key"], name="idempotency_key_per_customer")
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.response_status})"
