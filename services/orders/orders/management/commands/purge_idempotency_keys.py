from django.core.management.base import BaseCommand

from orders.services import idempotency_purge_expired


class Command(BaseCommand):
    help = "Delete expired Idempotency-Key records (run it now and then, e.g. daily)."

    def handle(self, *args, **options) -> None:
        self.stdout.write(f"deleted {idempotency_purge_expired()} expired idempotency keys")
