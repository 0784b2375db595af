"""What the gateway does to users and tokens: link a login to a user, issue, rotate and revoke."""

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from ecomms_common.auth import InvalidToken
from gateway.identity.revocation import access_token_record, account_access_deny
from gateway.identity.tokens import GatewayRefreshToken
from gateway.models import ROLE_ADMIN, RefreshFamily, User

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


def token_pair_issue(*, user: User, family: uuid.UUID | None = None) -> TokenPair:
    """Return a new access/refresh pair for the user.

    The refresh token is recorded with its family (a new one for a login, the spent token's for a
    refresh); the access token's ``jti`` is recorded so that it can be denied (raises
    ``RevocationUnavailable`` when that store is down: a token that could not be revoked is not
    issued).
    """
    refresh = GatewayRefreshToken.for_user(user)
    RefreshFamily.objects.create(jti=refresh["jti"], family=family or uuid.uuid4())
    access = refresh.access_token
    access_token_record(subject=str(user.public_id), jti=access["jti"], expires_at=access["exp"])
    return TokenPair(
        access=str(access),
        refresh=str(refresh),
        expires_in=settings.JWT_ACCESS_TTL_SECONDS,
    )


def token_refresh(*, refresh: str) -> TokenPair:
    """Spend a refresh token on a new pair of the same family; a refresh token works once.

    The spent token is revoked in the same transaction that checks it, under a row lock, so two
    concurrent uses of one token cannot both succeed. Roles and profile are read afresh. A spent
    token used again means that two parties hold it: every refresh token of its family is
    revoked and the account's access tokens are denied, then the call is refused.
    """
    token = _refresh_token_parse(refresh)
    with transaction.atomic():
        outstanding = (
            OutstandingToken.objects.select_for_update(of=("self",))
            .filter(jti=token["jti"])
            .select_related("user")
            .order_by()
            .first()
        )
        if outstanding is None:
            raise InvalidToken("This refresh token was not issued here.")
        family = (
            RefreshFamily.objects.filter(jti=token["jti"]).values_list("family", flat=True).first()
        )
        reused = BlacklistedToken.objects.filter(token=outstanding).exists()
        if not reused:
            BlacklistedToken.objects.create(token=outstanding)
            user = outstanding.user
            if user is None or not user.is_active:
                raise InvalidToken("The account of this token is no longer active.")
            return token_pair_issue(user=user, family=family)
    if outstanding.user is not None:
        _family_revoke(user=outstanding.user, family=family)
    raise InvalidToken(
        "This refresh token was already used or revoked; every token of its login is revoked.",
        "refresh_token_revoked",
    )


def token_logout(*, refresh: str) -> None:
    """Log the account of a refresh token out everywhere (:func:`account_tokens_revoke`)."""
    token = _refresh_token_parse(refresh)
    outstanding = (
        OutstandingToken.objects.filter(jti=token["jti"]).select_related("user").order_by().first()
    )
    if outstanding is None or outstanding.user is None:
        raise InvalidToken("This refresh token was not issued here.")
    account_tokens_revoke(user=outstanding.user, reason="logout")


def account_tokens_revoke(*, user: User, reason: str) -> None:
    """Deny the account's unexpired access tokens, then revoke all its refresh tokens.

    The denial comes first: when its store is down nothing is revoked and the caller gets a 503
    to retry, rather than a logout that leaves the access tokens working.
    """
    denied = account_access_deny(subject=str(user.public_id))
    revoked = _refresh_tokens_revoke(OutstandingToken.objects.filter(user=user))
    logger.warning(
        "tokens of user %s revoked (%s): %d access tokens denied, %d refresh tokens revoked",
        user.public_id,
        reason,
        denied,
        revoked,
    )


def account_disable(*, user: User, disabled: bool = True) -> User:
    """Disable an account (no login, no refresh; its tokens revoked), or enable it again."""
    if disabled:
        account_tokens_revoke(user=user, reason="account disabled")
    user.is_active = not disabled
    user.save(update_fields=["is_active"])
    logger.warning("user %s %s", user.public_id, "disabled" if disabled else "enabled again")
    return user


def _family_revoke(*, user: User, family: uuid.UUID | None) -> None:
    denied = account_access_deny(subject=str(user.public_id))
    revoked = 0
    if family is not None:
        jtis = RefreshFamily.objects.filter(family=family).values("jti")
        revoked = _refresh_tokens_revoke(OutstandingToken.objects.filter(jti__in=jtis))
    logger.warning(
        "a spent refresh token of user %s was used again: %d refresh tokens of its family "
        "revoked, %d access tokens denied",
        user.public_id,
        revoked,
        denied,
    )


def _refresh_tokens_revoke(outstanding: QuerySet[OutstandingToken]) -> int:
    """Revoke the given refresh tokens that are not yet revoked or expired; return how many."""
    live = outstanding.filter(expires_at__gt=timezone.now(), blacklistedtoken__isnull=True)
    created = BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token=token) for token in live], ignore_conflicts=True
    )
    return len(created)


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
