"""Settings of the orders service: shared defaults from ecomms_common, all from the env."""

from ecomms_common.base_settings import *  # noqa: F403
from ecomms_common.base_settings import INSTALLED_APPS, SPECTACULAR_SETTINGS, env

SERVICE_NAME = "orders"

INSTALLED_APPS = [*INSTALLED_APPS, "ecomms_common.outbox", "orders"]
READINESS_CHECKS = ["database", "broker"]
SPECTACULAR_SETTINGS = {
    **SPECTACULAR_SETTINGS,
    "TITLE": "ecomms orders",
    "DESCRIPTION": "Customers and orders; publishes order events through an outbox.",
}

# The catalog's bulk price lookup (orders/clients/catalog.py): per-attempt timeouts, bounded
# retries with jittered backoff, and one deadline for the whole lookup, retries included. The
# deadline must stay well under the gateway's UPSTREAM_READ_TIMEOUT_SECONDS (15 s), so that an
# order placed while the catalog stalls gets 503 catalog_unavailable from us, not 504 from the
# gateway; the breaker then fails fast for a while.
CATALOG_URL = env.str("CATALOG_URL", default="http://127.0.0.1:8001")
CATALOG_CONNECT_TIMEOUT_SECONDS = env.float("CATALOG_CONNECT_TIMEOUT_SECONDS", default=1.0)
CATALOG_READ_TIMEOUT_SECONDS = env.float("CATALOG_READ_TIMEOUT_SECONDS", default=2.0)
CATALOG_RETRIES = env.int("CATALOG_RETRIES", default=2)
CATALOG_BACKOFF_FACTOR = env.float("CATALOG_BACKOFF_FACTOR", default=0.1)
CATALOG_BACKOFF_JITTER = env.float("CATALOG_BACKOFF_JITTER", default=0.1)
CATALOG_DEADLINE_SECONDS = env.float("CATALOG_DEADLINE_SECONDS", default=5.0)
CATALOG_BREAKER_FAIL_MAX = env.int("CATALOG_BREAKER_FAIL_MAX", default=5)
CATALOG_BREAKER_RESET_SECONDS = env.float("CATALOG_BREAKER_RESET_SECONDS", default=30.0)

# Limits of POST /orders/ (documented in README.md).
ORDER_MAX_ITEMS = env.int("ORDER_MAX_ITEMS", default=100)
ORDER_MAX_QUANTITY = env.int("ORDER_MAX_QUANTITY", default=1000)
# How long an Idempotency-Key (and the response of the order placed under it) is remembered.
IDEMPOTENCY_KEY_TTL_SECONDS = env.int("IDEMPOTENCY_KEY_TTL_SECONDS", default=86_400)
# Phone numbers without a leading + are read as numbers of this region (ISO 3166 code);
# empty means every number must be given in international form.
PHONE_DEFAULT_REGION = env.str("PHONE_DEFAULT_REGION", default="") or None

# Phone verification (POST /customers/me/phone/verification/): a one-time code by SMS.
# How long a code can be confirmed.
PHONE_VERIFICATION_CODE_TTL_SECONDS = env.int("PHONE_VERIFICATION_CODE_TTL_SECONDS", default=600)
# Wrong codes a code takes before it is dead (429 then; a new code must be requested).
PHONE_VERIFICATION_MAX_ATTEMPTS = env.int("PHONE_VERIFICATION_MAX_ATTEMPTS", default=5)
# Codes sent per customer, and per number (whoever asks), within the window.
PHONE_VERIFICATION_MAX_CODES_PER_CUSTOMER = env.int(
    "PHONE_VERIFICATION_MAX_CODES_PER_CUSTOMER", default=5
)
PHONE_VERIFICATION_MAX_CODES_PER_NUMBER = env.int(
    "PHONE_VERIFICATION_MAX_CODES_PER_NUMBER", default=5
)
PHONE_VERIFICATION_WINDOW_SECONDS = env.int("PHONE_VERIFICATION_WINDOW_SECONDS", default=3600)
