"""What the gateway does to users and tokens: link a login to a user, issue, rotate and revoke."""

import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from ecomms_common.auth import InvalidToken
from gateway.identity.tokens import GatewayRefreshToken
from gateway.models import User


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
    """Return the user the provider's ``sub`` belongs to, created on first login.

    Email, name, phone and whether the email is verified are refreshed from the claims on every
    login. A user is never matched by email: two subjects with one email are two users.
    """
    subject = str(claims["sub"])
    profile = {
        "email": str(claims.get("email") or ""),
        "email_verified": claims.get("email_verified") in (True, "true"),
        "name": _full_name(claims),
    }
    if claims.get("phone_number"):
        profile["phone"] = str(claims["phone_number"])
    with transaction.atomic():
        user = User.objects.select_for_update().filter(oidc_sub=subject).first()
        if user is None:
            public_id = uuid.uuid4()
            return User.objects.create(
                oidc_sub=subject, public_id=public_id, username=str(public_id), **profile
            )
        changed = [field for field, value in profile.items() if getattr(user, field) != value]
        for field in changed:
            setattr(user, field, profile[field])
        if changed:
            user.save(update_fields=changed)
        return user


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
    user.admin_granted = granted
    user.save(update_fields=["admin_granted"])
    return user
