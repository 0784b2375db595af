from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from ecomms_common.outbox.models import OutboxMessage


class Command(BaseCommand):
    help = (
        "List outbox rows parked after being unroutable (no queue bound for their routing key), "
        "or put them back for the relay."
    )

    def add_arguments(self, parser) -> None:
        action = parser.add_mutually_exclusive_group(required=True)
        action.add_argument("--list", action="store_true", help="List parked rows.")
        action.add_argument("--requeue", type=int, metavar="ID", help="Requeue one row by id.")
        action.add_argument("--all", action="store_true", help="Requeue every parked row.")

    def handle(self, *args, **options) -> None:
        requeue: int | None = options["requeue"]
        parked = OutboxMessage.objects.filter(parked_at__isnull=False, published_at__isnull=True)
        if options["list"]:
            for row in parked.order_by("id"):
                self.stdout.write(
                    f"{row.id}\t{row.event_id}\t{row.routing_key}\t"
                    f"{row.parked_at.isoformat()}\t{row.parked_reason}"
                )
            return
        if requeue is not None:
            parked = parked.filter(id=requeue)
        with transaction.atomic():
            count = parked.update(
                parked_at=None, parked_reason="", attempts=0, next_attempt_at=None, last_error=""
            )
            if requeue is not None and count == 0:
                raise CommandError(f"no parked outbox row with id {requeue}")
            # Wakes a running relay at once (delivered on commit).
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_notify(%s, '')", [settings.OUTBOX_NOTIFY_CHANNEL])
        self.stdout.write(f"requeued {count} outbox rows")
