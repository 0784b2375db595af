"""``python manage.py grant_admin <email | oidc sub | user id> [--revoke]``."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from gateway.models import User
from gateway.selectors import users_named
from gateway.services import admin_grant


class Command(BaseCommand):
    help = (
        "Grant the admin role to a user who has logged in once (by email, provider subject or "
        "gateway user id); --revoke withdraws it. Tokens issued from then on carry the change."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("who", help="email, OIDC subject, or the user's id (a UUID)")
        parser.add_argument("--revoke", action="store_true", help="withdraw the role instead")

    def handle(self, *args: Any, who: str, revoke: bool, **options: Any) -> None:
        user = admin_grant(user=user_named(who), granted=not revoke)
        verb = "withdrawn from" if revoke else "granted to"
        self.stdout.write(f"admin role {verb} {user.email or user.oidc_sub} ({user.public_id})")


def user_named(who: str) -> User:
    """Return the one user an email, OIDC subject or user id names; CommandError otherwise."""
    users = users_named(who)
    if not users:
        raise CommandError(f"No user matches {who!r}; they must log in once first.")
    if len(users) > 1:
        raise CommandError(f"Several users match {who!r}; name one by its OIDC subject or id.")
    return users[0]
