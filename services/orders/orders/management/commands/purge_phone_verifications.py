from django.core.management.base import BaseCommand

from orders.services import phone_verification_purge_old


class Command(BaseCommand):
    help = (
        "Delete phone verifications older than the rate window and the code's lifetime"
        " (run it now and then, e.g. daily)."
    )

    def handle(self, *args, **options) -> None:
        self.stdout.write(f"deleted {phone_verification_purge_old()} old phone verifications")
