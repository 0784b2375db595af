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
    oidc_sub = models.CharField(max_length=255, unique=True, null=True, blank=True)
    name = models.CharField(max_length=255, blank=True)
    phone = models.CharField(max_length=32, blank=True)
    email_verified = models.BooleanField(default=False)
    admin_granted = models.BooleanField(
        default=False, help_text="Admin role granted with the grant_admin command."
    )

    @property
    def is_listed_admin(self) -> bool:
        return self.email_verified and self.email.lower() in settings.ADMIN_EMAILS

    @property
    def roles(self) -> list[str]:
        if self.admin_granted or self.is_listed_admin:
            return [ROLE_CUSTOMER, ROLE_ADMIN]
        return [ROLE_CUSTOMER]
