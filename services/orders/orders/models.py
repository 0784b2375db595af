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
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.email or self.sub

    @property
    def display_name(self) -> str:
        return self.full_name or self.token_name


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
