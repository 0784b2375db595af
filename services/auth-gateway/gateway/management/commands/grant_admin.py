"""``python manage.py grant_admin <email | oidc sub | user id> [--revoke]``."""

import contextlib
import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q

from gateway.identity.services import admin_grant
from gateway.models import User


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
    match = Q(email__iexact=who) | Q(oidc_sub=who)
    with contextlib.suppress(ValueError):
        match |= Q(public_id=uuid.UUID(who))
    users = list(User.objects.filter(match)[:2])
    if not users:
        raise CommandError(f"No user matches {who!r}; they must log in once first.")
    if len(users) > 1:
        raise CommandError(f"Several users match {who!r}; name one by its OIDC subject or id.")
    return users[0]
