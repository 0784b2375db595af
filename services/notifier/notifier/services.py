"""Taking events in and sending their deliveries."""

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone

from ecomms_common.correlation import bind_request_id
from ecomms_common.events import Envelope
from ecomms_common.tracing import traceparent_attached
from notifier.channels import PermanentDeliveryError, TransientDeliveryError
from notifier.channels.email import email_send
from notifier.channels.sms import sms_send
from notifier.events import (
    PHONE_VERIFICATION_REQUESTED,
    NotifierEvent,
    PhoneVerificationEvent,
    event_read,
)
from notifier.messages import MESSAGES, message_render
from notifier.metrics import DELIVERIES, DELIVERY_LATENCY
from notifier.models import Delivery
from notifier.storage import (
    Claim,
    DeliveryRow,
    InboxRow,
    Outcome,
    deliveries_claim,
    delivery_body_blank,
    events_insert,
    outcomes_record,
)

logger = logging.getLogger(__name__)

# Recording an outcome stops this long (at most a tenth of the lease) before the lease runs out.
RECORD_MARGIN_SECONDS = 5.0


def event_receive(*, envelope: Envelope) -> list[int] | None:
    """Record an order event and its deliveries in one transaction.

    Return the ids of the deliveries to attempt, or ``None`` when the event id is already in the
    inbox (a redelivery or a republished event): nothing is created twice.
    """
    return events_receive(envelopes=[envelope])[0]


def events_receive(
    *, envelopes: list[Envelope], traceparents: list[str] | None = None
) -> list[list[int] | None]:
    """Record events and their deliveries in one statement; return, for each envelope, the
    ids of its deliveries to attempt, or ``None`` for an event already in the inbox (or
    earlier in ``envelopes``). ``traceparents`` (one per envelope) name the spans that took
    them in: their deliveries' sends are traced under them.

    Raise ``MalformedEvent`` (before writing anything) when an envelope is not an event the
    notifier handles.
    """
    events = [event_read(envelope) for envelope in envelopes]
    now = timezone.now()
    inbox_rows: dict[str, InboxRow] = {}
    delivery_rows: list[DeliveryRow] = []
    traceparents = traceparents or [""] * len(envelopes)
    for envelope, event, traceparent in zip(envelopes, events, traceparents, strict=True):
        event_id = str(envelope.event_id)
        if event_id in inbox_rows:
            continue
        inbox_rows[event_id] = InboxRow(
            event_id=event_id,
            event_type=envelope.event_type,
            event_version=envelope.event_version,
            occurred_at=event.occurred_at,
            correlation_id=envelope.correlation_id[:64],
            traceparent=traceparent,
        )
        delivery_rows += _deliveries_for(event_id=event_id, event=event, now=now)
    stored = events_insert(list(inbox_rows.values()), delivery_rows, received_at=now)
    to_attempt: dict[str, list[int]] = {}
    for delivery in stored:
        ids = to_attempt.setdefault(delivery.event_id, [])
        if delivery.status == Delivery.Status.PENDING:
            ids.append(delivery.id)
        else:
            DELIVERIES.labels(channel=delivery.channel, status=delivery.status).inc()
    # An event sends at least one message, so a new one has at least one row (a skipped one).
    return [to_attempt.pop(str(envelope.event_id), None) for envelope in envelopes]


def _deliveries_for(*, event_id: str, event: NotifierEvent, now) -> list[DeliveryRow]:
    """Return the event's deliveries: those its entry in ``MESSAGES`` names.

    An SMS goes only to the number the event names for it (``sms_to``): for an order, the
    customer's phone, which orders sends only once verified; for a verification, the number
    being verified, while its code is still valid. Otherwise the SMS is recorded as skipped.
    """
    messages = MESSAGES[event.event_type]
    rows = []
    if messages.sms:
        body = message_render(messages.sms, event=event)
        expired = isinstance(event, PhoneVerificationEvent) and event.expired(now)
        if event.sms_to and not expired:
            rows.append(_row(event_id, Delivery.Channel.SMS, event.sms_to, "", body, now))
        else:
            rows.append(
                DeliveryRow(
                    event_id=event_id,
                    channel=Delivery.Channel.SMS,
                    recipient="",
                    subject="",
                    body="" if expired else body,  # an expired code is not kept
                    status=Delivery.Status.SKIPPED,
                    next_attempt_at=None,
                    last_error=event.sms_skipped_because,
                )
            )
    if messages.email_subject and messages.email_body:
        subject = message_render(messages.email_subject, event=event)
        body = message_render(messages.email_body, event=event)
        rows.append(
            _row(event_id, Delivery.Channel.EMAIL, settings.ADMIN_EMAIL, subject, body, now)
        )
    return rows


def _row(event_id: str, channel: str, recipient: str, subject: str, body: str, now) -> DeliveryRow:
    return DeliveryRow(
        event_id=event_id,
        channel=channel,
        recipient=recipient,
        subject=subject,
        body=body,
        status=Delivery.Status.PENDING,
        next_attempt_at=now,
        last_error="",
    )


def retry_delay(attempts: int) -> timedelta:
    """Return the wait before attempt ``attempts + 1``: doubling from the base, capped."""
    seconds = settings.NOTIFIER_RETRY_BASE_SECONDS * 2 ** (attempts - 1)
    return timedelta(seconds=min(seconds, settings.NOTIFIER_RETRY_MAX_SECONDS))


def _send(delivery: Claim) -> str:
    if delivery.channel == Delivery.Channel.SMS:
        return sms_send(to=delivery.recipient, message=delivery.body)
    return email_send(to=delivery.recipient, subject=delivery.subject, body=delivery.body)


def delivery_attempt(*, delivery_id: int) -> Claim | None:
    """Attempt one delivery that is due; return it, or ``None`` if there was nothing to do."""
    attempted = deliveries_attempt(delivery_ids=[delivery_id])
    return attempted[0] if attempted else None


def deliveries_attempt(*, delivery_ids: list[int]) -> list[Claim]:
    """Attempt the deliveries among ``delivery_ids`` that are due; return those attempted.

    Three steps, and no transaction is open while a provider is called:

    1. claim: in one committed statement the rows become ``sending``, their attempt
       counted, with a lease (``next_attempt_at`` = now + ``NOTIFIER_DELIVERY_LEASE_SECONDS``);
    2. call the provider for each;
    3. record each outcome as soon as the provider answered, only if the row is still that
       attempt's claim, retrying while the database cannot be reached until the lease is
       nearly over.

    So a database outage during the calls costs a pause, not a second message. Only one worker
    holds a claim at a time; a claim whose worker died (or could not record for the whole lease)
    is due again once its lease has run out, and the delivery is attempted again.
    """
    started = time.monotonic()
    now = timezone.now()
    lease = settings.NOTIFIER_DELIVERY_LEASE_SECONDS
    claims = deliveries_claim(
        delivery_ids,
        now=now,
        lease_until=now + timedelta(seconds=lease),
        max_attempts=settings.NOTIFIER_DELIVERY_MAX_ATTEMPTS,
    )
    record_until = started + lease - min(RECORD_MARGIN_SECONDS, lease / 10)
    attempted = []
    for delivery in claims:
        if delivery.taken_over:
            # Its worker died, or could not record, before the lease ran out: whether the
            # provider accepted that attempt is unknown, so it is attempted again (or failed,
            # when that was its last attempt).
            logger.warning("%s delivery %s: %s", delivery.channel, delivery.id, delivery.last_error)
        with traceparent_attached(delivery.traceparent):  # its lines carry the event's trace
            if _attempt_and_record(delivery, record_until):
                attempted.append(delivery)
    return attempted


def _attempt_and_record(delivery: Claim, record_until: float) -> bool:
    """Attempt a claimed delivery and store its outcome; return whether it was attempted."""
    if delivery.status == Delivery.Status.FAILED:
        _observe(delivery)
        _secret_forget(delivery)
        return False
    _attempt(delivery)
    # Recorded at once, not with the batch: an accepted message must not wait for a slow
    # provider call of another one before its outcome is safe.
    if _outcome_record(delivery=delivery, outcome=Outcome.of(delivery), until=record_until):
        _observe(delivery)
        _secret_forget(delivery)
    return True


def _secret_forget(delivery: Claim) -> None:
    """Blank a verification code's SMS text once it is sent or failed for good: the code is
    kept in the notifier's database only while the SMS may still have to be sent."""
    if delivery.event_type != PHONE_VERIFICATION_REQUESTED:
        return
    if delivery.status not in (Delivery.Status.SENT, Delivery.Status.FAILED):
        return
    try:
        delivery_body_blank(delivery.id)
    except DatabaseError:  # the delivery is done all the same; only its text stays
        connection.close()
        logger.warning("sms delivery %s: its code could not be blanked", delivery.id)


def _attempt(delivery: Claim) -> None:
    """Call the provider for a claimed delivery; set its outcome on it (not saved)."""
    try:
        with bind_request_id(delivery.correlation_id):
            delivery.provider_message_id = _send(delivery)
    except PermanentDeliveryError as exc:
        delivery.status = Delivery.Status.FAILED
        delivery.last_error = str(exc)
        delivery.next_attempt_at = None
    except Exception as exc:  # transient, or a failure we did not foresee: retried later
        if not isinstance(exc, TransientDeliveryError):
            logger.exception("%s delivery %s: unexpected failure", delivery.channel, delivery.id)
        delivery.last_error = str(exc) or repr(exc)
        if delivery.attempts >= settings.NOTIFIER_DELIVERY_MAX_ATTEMPTS:
            delivery.status = Delivery.Status.FAILED
            delivery.next_attempt_at = None
        else:
            delivery.status = Delivery.Status.PENDING
            delivery.next_attempt_at = timezone.now() + retry_delay(delivery.attempts)
    else:
        delivery.status = Delivery.Status.SENT
        delivery.sent_at = timezone.now()
        delivery.next_attempt_at = None
        delivery.last_error = ""


def _outcome_record(*, delivery: Claim, outcome: Outcome, until: float) -> bool:
    """Store the outcome of an attempt; return whether it was stored.

    While the database cannot be reached, try again with growing pauses until ``until``
    (monotonic): past it the lease may run out and another worker take the delivery over.
    """
    pause = 0.1
    while True:
        try:
            stored = outcomes_record([outcome])
        except DatabaseError as exc:
            connection.close()  # a broken connection is not reused; the next try reconnects
            if time.monotonic() + pause >= until:
                logger.error(
                    "%s delivery %s: outcome %s not recorded (%r); attempted again after its lease",
                    delivery.channel,
                    delivery.id,
                    delivery.status,
                    exc,
                )
                return False
            logger.warning(
                "%s delivery %s: recording %s failed, retrying: %r",
                delivery.channel,
                delivery.id,
                delivery.status,
                exc,
            )
            time.sleep(pause)
            pause = min(pause * 2, 2.0)
            continue
        if not stored:
            logger.error(
                "%s delivery %s: attempt %d was taken over before its outcome (%s) was recorded",
                delivery.channel,
                delivery.id,
                delivery.attempts,
                delivery.status,
            )
        return bool(stored)


def _observe(delivery: Claim) -> None:
    status = delivery.status if delivery.status != Delivery.Status.PENDING else "retry"
    DELIVERIES.labels(channel=delivery.channel, status=status).inc()
    if delivery.status == Delivery.Status.SENT:
        latency = (delivery.sent_at - delivery.occurred_at).total_seconds()
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
