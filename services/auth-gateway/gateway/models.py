"""Users of the gateway: linked to the provider's subject, with the roles their tokens carry."""

import uuid

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models

ROLE_CUSTOMER = "customer"
ROLE_ADMIN = "admin"


class User(AbstractUser):
    """A person who logged in through the OIDC provider.

    ``public_id`` is the stable id other services see (the ``sub`` of our access tokens);
    ``oidc_sub`` is the provider's subject, the only thing a login is matched on.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # The account: the provider's issuer and subject together (empty issuer: linked before the
    # issuer was recorded; its next login fills it in).
    oidc_issuer = models.CharField(max_length=255, blank=True, default="")
    oidc_sub = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001 - none for a createsuperuser user; NULLs never collide
    name = models.CharField(max_length=255, blank=True)
    phone = models.CharField(max_length=32, blank=True)
    email_verified = models.BooleanField(default=False)
    admin_granted = models.BooleanField(
        default=False, help_text="Admin role granted with the grant_admin command."
    )
    listed_admin_email = models.CharField(
        max_length=254,
        unique=True,
        null=True,
        blank=True,
        editable=False,
        help_text="The ADMIN_EMAILS address this account was the first to link, verified.",
    )

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        constraints = [
            models.UniqueConstraint(
                fields=["oidc_issuer", "oidc_sub"], name="gateway_user_one_account_per_subject"
            )
        ]

    @property
    def is_listed_admin(self) -> bool:
        """Admin through ADMIN_EMAILS: the listed address this account claimed is still listed,
        still its email, and verified by the provider."""
        email = self.listed_admin_email
        return (
            email is not None
            and email in settings.ADMIN_EMAILS
            and self.email_verified
            and self.email.lower() == email
        )

    @property
    def roles(self) -> list[str]:
        if self.admin_granted or self.is_listed_admin:
            return [ROLE_CUSTOMER, ROLE_ADMIN]
        return [ROLE_CUSTOMER]


class RefreshFamily(models.Model):
    """Which login a refresh token descends from: every refresh token issued by refreshing
    another carries its family, so that reusing a spent one revokes them all (OAuth 2.0
    Security BCP, refresh token rotation)."""

    jti = models.CharField(max_length=255, unique=True)
    family = models.UUIDField(db_index=True)

    def __str__(self) -> str:
        return f"refresh token {self.jti} of family {self.family}"
