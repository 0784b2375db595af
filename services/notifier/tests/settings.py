"""The notifier's settings plus the outbox, so that tests can commit events as orders does and
relay them (in production the outbox lives in the orders database, not here)."""

from config.settings import *  # noqa: F403
from config.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "ecomms_common.outbox"]
