"""What the gateway does to users and tokens: link a login to a user, issue, rotate and revoke."""

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from ecomms_common.auth import InvalidToken
from gateway.identity.tokens import GatewayRefreshToken
from gateway.models import ROLE_ADMIN, User

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TokenPair:
    access: str
    refresh: str
    expires_in: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "access": self.access,
            "refresh": self.refresh,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
        }


def user_link_from_claims(*, claims: dict[str, Any]) -> User:
    """Return the account of the provider's ``iss`` and ``sub``, created on first login.

    Email, name, phone and whether the email is verified (only a JSON ``true`` counts) are
    refreshed from the claims on every login. A user is never matched by email: two subjects
    with one email are two users, and only the first of them to link a verified address of
    ``ADMIN_EMAILS`` gets the admin role through it (:func:`_listed_email_claim`). A change of
    roles is logged.
    """
    issuer, subject = str(claims.get("iss") or ""), str(claims["sub"])
    profile = {
        "email": str(claims.get("email") or ""),
        "email_verified": claims.get("email_verified") is True,
        "name": _full_name(claims),
    }
    if claims.get("phone_number"):
        profile["phone"] = str(claims["phone_number"])
    with transaction.atomic():
        accounts = User.objects.select_for_update().filter(oidc_sub=subject)
        user = accounts.filter(oidc_issuer=issuer).first()
        if user is None and issuer:  # linked before issuers were recorded: this one's now
            user = accounts.filter(oidc_issuer="").first()
            if user is not None:
                user.oidc_issuer = issuer
                user.save(update_fields=["oidc_issuer"])
        if user is None:
            public_id = uuid.uuid4()
            user = User.objects.create(
                oidc_issuer=issuer,
                oidc_sub=subject,
                public_id=public_id,
                username=str(public_id),
                **profile,
            )
            roles_before = None
        else:
            roles_before = user.roles
            changed = [field for field, value in profile.items() if getattr(user, field) != value]
            for field in changed:
                setattr(user, field, profile[field])
            if changed:
                user.save(update_fields=changed)
        _listed_email_claim(user)
        _roles_log(user, roles_before, reason="login")
        return user


def _listed_email_claim(user: User) -> None:
    """Record that ``user`` links a verified ``ADMIN_EMAILS`` address, if it is the first to.

    First means: no other account holds the address, and none with that verified email joined
    earlier (it claims the address at its own next login).
    """
    email = user.email.lower()
    if (
        user.listed_admin_email is not None
        or not user.email_verified
        or email not in settings.ADMIN_EMAILS
    ):
        return
    others = User.objects.exclude(pk=user.pk)
    if (
        others.filter(listed_admin_email=email).exists()
        or others.filter(
            email__iexact=email, email_verified=True, date_joined__lt=user.date_joined
        ).exists()
    ):
        return
    user.listed_admin_email = email
    try:
        with transaction.atomic():
            user.save(update_fields=["listed_admin_email"])
    except IntegrityError:  # another account claimed it in the meantime
        user.listed_admin_email = None


def _roles_log(user: User, before: list[str] | None, *, reason: str) -> None:
    if before is not None and before != user.roles:
        logger.warning(
            "roles of user %s changed from %s to %s (%s)",
            user.public_id,
            ",".join(before),
            ",".join(user.roles),
            reason,
        )
    elif before is None and ROLE_ADMIN in user.roles:
        logger.warning("user %s created with roles %s (%s)", user.public_id, user.roles, reason)


def _full_name(claims: dict[str, Any]) -> str:
    if claims.get("name"):
        return str(claims["name"])
    parts = [claims.get("given_name"), claims.get("family_name")]
    return " ".join(str(part) for part in parts if part)


def token_pair_issue(*, user: User) -> TokenPair:
    """Return a new access/refresh pair for the user (the refresh token is recorded)."""
    refresh = GatewayRefreshToken.for_user(user)
    return TokenPair(
        access=str(refresh.access_token),
        refresh=str(refresh),
        expires_in=settings.JWT_ACCESS_TTL_SECONDS,
    )


def token_refresh(*, refresh: str) -> TokenPair:
    """Spend a refresh token on a new pair; a refresh token works once.

    The spent token is revoked in the same transaction that checks it, under a row lock, so two
    concurrent uses of one token cannot both succeed. Roles and profile are read afresh.
    """
    with transaction.atomic():
        token = _refresh_token_parse(refresh)
        outstanding = (
            OutstandingToken.objects.select_for_update(of=("self",))
            .filter(jti=token["jti"])
            .select_related("user")
            .order_by()
            .first()
        )
        if outstanding is None:
            raise InvalidToken("This refresh token was not issued here.")
        if BlacklistedToken.objects.filter(token=outstanding).exists():
            raise InvalidToken("This refresh token was already used or revoked.")
        BlacklistedToken.objects.create(token=outstanding)
        user = outstanding.user
        if user is None or not user.is_active:
            raise InvalidToken("The account of this token is no longer active.")
        return token_pair_issue(user=user)


def token_revoke(*, refresh: str) -> None:
    """Revoke a refresh token: it can no longer be used."""
    token = _refresh_token_parse(refresh)
    token.blacklist()


def _refresh_token_parse(refresh: str) -> GatewayRefreshToken:
    try:
        return GatewayRefreshToken(refresh)
    except TokenError as exc:
        raise InvalidToken(f"Invalid refresh token: {exc}") from exc


def admin_grant(*, user: User, granted: bool = True) -> User:
    """Grant (or withdraw) the admin role, whatever the user's email."""
    before = user.roles
    user.admin_granted = granted
    user.save(update_fields=["admin_granted"])
    _roles_log(user, before, reason="grant_admin" if granted else "grant_admin --revoke")
    return user
