from django.db import models


class OutboxMessage(models.Model):
    """One event waiting to be (or already) published to the broker."""

    event_id = models.UUIDField(unique=True)
    event_type = models.CharField(max_length=100)
    event_version = models.PositiveSmallIntegerField()
    routing_key = models.CharField(max_length=200)
    envelope = models.JSONField(help_text="The whole event envelope, as published.")
    correlation_id = models.CharField(max_length=64)
    # The W3C trace context of the change that wrote the row (empty with tracing off): the
    # relay's publish span is its child, and the message carries it on (ecomms_common.tracing).
    traceparent = models.CharField(max_length=55, blank=True, default="")
    tracestate = models.CharField(max_length=512, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    published_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    # Set when RabbitMQ refused this row (nacked or unroutable): not retried before then.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    # Set when the row was refused as unroutable OUTBOX_UNROUTABLE_MAX_ATTEMPTS times: the relay
    # leaves it alone until someone requeues it (manage.py outbox_parked --requeue).
    parked_at = models.DateTimeField(null=True, blank=True)
    parked_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(
                fields=["id"],
                condition=models.Q(published_at__isnull=True),
                name="outbox_unpublished_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.routing_key} {self.event_id}"
