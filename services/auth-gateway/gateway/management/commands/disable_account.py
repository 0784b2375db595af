"""``python manage.py disable_account <email | oidc sub | user id> [--enable]``."""

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from gateway.management.commands.grant_admin import user_named
from gateway.services import account_disable


class Command(BaseCommand):
    help = (
        "Disable an account: it can no longer log in or refresh, its refresh tokens are revoked "
        "and its access tokens denied at the gateway within a second; --enable lets it log in "
        "again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("who", help="email, OIDC subject, or the user's id (a UUID)")
        parser.add_argument("--enable", action="store_true", help="enable the account again")

    def handle(self, *args: Any, who: str, enable: bool, **options: Any) -> None:
        user = account_disable(user=user_named(who), disabled=not enable)
        state = "enabled" if enable else "disabled, its tokens revoked"
        self.stdout.write(f"{user.email or user.oidc_sub} ({user.public_id}) {state}")
