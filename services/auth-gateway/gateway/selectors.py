"""Reads of the gateway's accounts."""

import contextlib
import uuid

from django.db.models import Q, QuerySet

from gateway.models import User


def users_named(who: str) -> list[User]:
    """Up to two users an email, OIDC subject or user id (a UUID) names (two: it is ambiguous)."""
    match = Q(email__iexact=who) | Q(oidc_sub=who)
    with contextlib.suppress(ValueError):
        match |= Q(public_id=uuid.UUID(who))
    return list(User.objects.filter(match)[:2])


def users_by_claims(*, issuer: str, subject: str) -> QuerySet[User]:
    """The account of this issuer and subject, else one linked before issuers were recorded."""
    return User.objects.filter(oidc_issuer__in=[issuer, ""], oidc_sub=subject).order_by(
        "-oidc_issuer"
    )[:1]
