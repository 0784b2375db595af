from django.db import models


class InboxEvent(models.Model):
    """An event this service has taken in: each event id is processed once."""

    event_id = models.UUIDField(primary_key=True)
    event_type = models.CharField(max_length=100)
    event_version = models.PositiveSmallIntegerField()
    occurred_at = models.DateTimeField(help_text="When the producer committed the event.")
    correlation_id = models.CharField(max_length=64)
    # The W3C trace context of the consumer span that took the event in (empty with tracing
    # off): its deliveries' provider calls are that span's children, whenever they happen.
    traceparent = models.CharField(max_length=55, blank=True, default="")
    received_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.event_type}.v{self.event_version} {self.event_id}"


class Delivery(models.Model):
    """One message on one channel for one event, with its own retry state."""

    class Channel(models.TextChoices):
        SMS = "sms"
        EMAIL = "email"

    class Status(models.TextChoices):
        PENDING = "pending"  # waiting for its first attempt or a retry (next_attempt_at)
        SENDING = "sending"  # claimed by a worker for one attempt until next_attempt_at (lease)
        SENT = "sent"  # the provider accepted it
        FAILED = "failed"  # refused for good, or out of attempts
        SKIPPED = "skipped"  # nothing to send to (e.g. no phone on the order)

    event = models.ForeignKey(InboxEvent, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    recipient = models.CharField(max_length=254, blank=True)
    subject = models.CharField(max_length=200, blank=True)
    body = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    provider_message_id = models.CharField(max_length=200, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["event", "channel"], name="one_delivery_per_channel")
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(status__in=["pending", "sending"]),
                name="delivery_due_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.channel} to {self.recipient or '-'} for {self.event_id}: {self.status}"
