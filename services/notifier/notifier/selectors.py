"""Reads: the deliveries due for an attempt."""

from django.utils import timezone

from notifier.models import Delivery


def due_delivery_ids(*, limit: int = 100) -> list[int]:
    """Return deliveries whose time has come, oldest first: pending ones, and claims whose lease
    ran out."""
    return list(
        Delivery.objects.filter(
            status__in=[Delivery.Status.PENDING, Delivery.Status.SENDING],
            next_attempt_at__lte=timezone.now(),
        )
        .order_by("next_attempt_at")
        .values_list("id", flat=True)[:limit]
    )
