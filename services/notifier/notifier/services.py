"""Taking events in and sending their deliveries."""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ecomms_common.correlation import bind_request_id
from ecomms_common.events import Envelope
from notifier.channels import PermanentDeliveryError, TransientDeliveryError
from notifier.channels.email import email_send
from notifier.channels.sms import sms_send
from notifier.events import OrderPlaced
from notifier.metrics import DELIVERIES, DELIVERY_LATENCY
from notifier.models import Delivery, InboxEvent

logger = logging.getLogger(__name__)


def event_receive(*, envelope: Envelope) -> list[int] | None:
    """Record an ``order.placed`` event and its deliveries in one transaction.

    Return the ids of the deliveries to attempt, or ``None`` when the event id is already in the
    inbox (a redelivery or a republished event): nothing is created twice.
    """
    order = OrderPlaced.from_envelope(envelope)
    with transaction.atomic():
        event, created = InboxEvent.objects.get_or_create(
            event_id=envelope.event_id,
            defaults={
                "event_type": envelope.event_type,
                "event_version": envelope.event_version,
                "occurred_at": order.occurred_at,
                "correlation_id": envelope.correlation_id[:64],
            },
        )
        if not created:
            return None
        now = timezone.now()
        sms = Delivery(
            event=event,
            channel=Delivery.Channel.SMS,
            recipient=order.customer_phone,
            body=order.sms_text(),
            next_attempt_at=now,
        )
        if not order.customer_phone:
            sms.status = Delivery.Status.SKIPPED
            sms.last_error = "the order has no phone number"
            sms.next_attempt_at = None
        email = Delivery(
            event=event,
            channel=Delivery.Channel.EMAIL,
            recipient=settings.ADMIN_EMAIL,
            subject=order.email_subject(),
            body=order.email_body(),
            next_attempt_at=now,
        )
        deliveries = Delivery.objects.bulk_create([sms, email])
    if sms.status == Delivery.Status.SKIPPED:
        DELIVERIES.labels(channel="sms", status="skipped").inc()
    return [d.id for d in deliveries if d.status == Delivery.Status.PENDING]


def retry_delay(attempts: int) -> timedelta:
    """Return the wait before attempt ``attempts + 1``: doubling from the base, capped."""
    seconds = settings.NOTIFIER_RETRY_BASE_SECONDS * 2 ** (attempts - 1)
    return timedelta(seconds=min(seconds, settings.NOTIFIER_RETRY_MAX_SECONDS))


DELIVERY_OUTCOME_FIELDS = [
    "status",
    "attempts",
    "next_attempt_at",
    "provider_message_id",
    "last_error",
    "sent_at",
    "updated_at",
]


def _send(delivery: Delivery) -> str:
    if delivery.channel == Delivery.Channel.SMS:
        return sms_send(to=delivery.recipient, message=delivery.body)
    return email_send(to=delivery.recipient, subject=delivery.subject, body=delivery.body)


def delivery_attempt(*, delivery_id: int) -> Delivery | None:
    """Attempt a pending delivery that is due; return it, or ``None`` if there was nothing to do.

    The row stays locked (``FOR UPDATE SKIP LOCKED``) while the provider is called, so two workers
    never send the same delivery; a worker that dies mid-call leaves it pending for a retry.
    """
    with transaction.atomic():
        delivery = (
            # Lock the delivery only: its event row is shared with the other channel's delivery.
            Delivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("event")
            .filter(
                id=delivery_id,
                status=Delivery.Status.PENDING,
                next_attempt_at__lte=timezone.now(),
            )
            .first()
        )
        if delivery is None:
            return None
        delivery.attempts += 1
        try:
            with bind_request_id(delivery.event.correlation_id):
                delivery.provider_message_id = _send(delivery)
        except PermanentDeliveryError as exc:
            delivery.status = Delivery.Status.FAILED
            delivery.last_error = str(exc)
            delivery.next_attempt_at = None
        except TransientDeliveryError as exc:
            delivery.last_error = str(exc)
            if delivery.attempts >= settings.NOTIFIER_DELIVERY_MAX_ATTEMPTS:
                delivery.status = Delivery.Status.FAILED
                delivery.next_attempt_at = None
            else:
                delivery.next_attempt_at = timezone.now() + retry_delay(delivery.attempts)
        else:
            delivery.status = Delivery.Status.SENT
            delivery.sent_at = timezone.now()
            delivery.next_attempt_at = None
            delivery.last_error = ""
        delivery.save(update_fields=DELIVERY_OUTCOME_FIELDS)
    _observe(delivery)
    return delivery


def _observe(delivery: Delivery) -> None:
    status = delivery.status if delivery.status != Delivery.Status.PENDING else "retry"
    DELIVERIES.labels(channel=delivery.channel, status=status).inc()
    if delivery.status == Delivery.Status.SENT:
        latency = (delivery.sent_at - delivery.event.occurred_at).total_seconds()
        DELIVERY_LATENCY.labels(channel=delivery.channel).observe(max(latency, 0.0))
        logger.info("%s delivery %s sent", delivery.channel, delivery.id)
    else:
        logger.warning(
            "%s delivery %s %s after %d attempts: %s",
            delivery.channel,
            delivery.id,
            status,
            delivery.attempts,
            delivery.last_error,
        )


def due_delivery_ids(*, limit: int = 100) -> list[int]:
    """Return pending deliveries whose time has come, oldest first."""
    return list(
        Delivery.objects.filter(status=Delivery.Status.PENDING, next_attempt_at__lte=timezone.now())
        .order_by("next_attempt_at")
        .values_list("id", flat=True)[:limit]
    )
