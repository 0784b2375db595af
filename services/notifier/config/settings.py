"""Settings of the notifier service: shared defaults from ecomms_common, all from the env."""

from ecomms_common.base_settings import *  # noqa: F403
from ecomms_common.base_settings import INSTALLED_APPS, LOGGING, SPECTACULAR_SETTINGS, env

SERVICE_NAME = "notifier"

INSTALLED_APPS = [*INSTALLED_APPS, "notifier"]
READINESS_CHECKS = ["database", "broker"]
SPECTACULAR_SETTINGS = {
    **SPECTACULAR_SETTINGS,
    "TITLE": "ecomms notifier",
    "DESCRIPTION": "Consumes order events and sends SMS and admin email. No public API.",
}
LOGGING["loggers"]["pika"] = {"level": "WARNING"}

# Probes and metrics served by `manage.py consume` (same variables as the web processes).
OPS_HOST = env.str("HOST", default="0.0.0.0")  # noqa: S104 - containers listen on every address
OPS_PORT = env.int("PORT", default=8003)

# The notifier's queue, declared and bound by `manage.py consume` at start (notifier/topology.py);
# the exchanges' names (EVENTS_EXCHANGE, DEAD_LETTER_EXCHANGE) come from ecomms_common.
NOTIFIER_QUEUE = env.str("NOTIFIER_QUEUE", default="notifier.order-events")
NOTIFIER_DEAD_LETTER_QUEUE = env.str(
    "NOTIFIER_DEAD_LETTER_QUEUE", default="notifier.order-events.dlq"
)
# The events it handles (notifier.events.HANDLED): anything else bound here would be dead-lettered.
NOTIFIER_BINDING_KEYS = env.list(
    "NOTIFIER_BINDING_KEYS",
    default=[
        "order.placed.v1",
        "order.cancelled.v1",
        "order.paid.v1",
        "customer.phone_verification_requested.v1",
    ],
)
# Deliveries of one message before RabbitMQ dead-letters it (quorum queue x-delivery-limit).
NOTIFIER_DELIVERY_LIMIT = env.int("NOTIFIER_DELIVERY_LIMIT", default=10)

# Consuming (`manage.py consume`).
NOTIFIER_PREFETCH = env.int("NOTIFIER_PREFETCH", default=20)
# Delivery threads: each holds a database connection and a connection to each provider, and
# waits on them most of the time, so the threads, not the CPU, bound how fast one process sends.
NOTIFIER_DELIVERY_WORKERS = env.int("NOTIFIER_DELIVERY_WORKERS", default=16)
# A delivery thread claims up to this many waiting deliveries in one transaction, then sends and
# records them one by one. Claims a killed process had not attempted yet wait for their lease.
NOTIFIER_DELIVERY_BATCH = env.int("NOTIFIER_DELIVERY_BATCH", default=10)
# Transient failures are retried after BASE, 2*BASE, 4*BASE... seconds (capped at MAX), until
# MAX_ATTEMPTS attempts in all; the scheduler looks for due retries every POLL seconds.
NOTIFIER_RETRY_BASE_SECONDS = env.float("NOTIFIER_RETRY_BASE_SECONDS", default=5.0)
NOTIFIER_RETRY_MAX_SECONDS = env.float("NOTIFIER_RETRY_MAX_SECONDS", default=600.0)
NOTIFIER_DELIVERY_MAX_ATTEMPTS = env.int("NOTIFIER_DELIVERY_MAX_ATTEMPTS", default=8)
NOTIFIER_RETRY_POLL_SECONDS = env.float("NOTIFIER_RETRY_POLL_SECONDS", default=1.0)
# How long an attempt owns its delivery (status sending): longer than a provider call can take
# (SMS and SMTP timeouts below) plus the time the outcome may wait for the database. A delivery
# whose worker died is attempted again once its lease has run out.
NOTIFIER_DELIVERY_LEASE_SECONDS = env.float("NOTIFIER_DELIVERY_LEASE_SECONDS", default=120.0)

# SMS through Africa's Talking. Without an API key, SMS go to the local stand-in
# (`ecomms-sms-standin`, port 9402, from libs/standins); AFRICASTALKING_BASE_URL overrides the host.
AFRICASTALKING_USERNAME = env.str("AFRICASTALKING_USERNAME", default="sandbox")
AFRICASTALKING_API_KEY = env.str("AFRICASTALKING_API_KEY", default="")
AFRICASTALKING_SENDER_ID = env.str("AFRICASTALKING_SENDER_ID", default="")
AFRICASTALKING_BASE_URL = env.str(
    "AFRICASTALKING_BASE_URL",
    default="" if AFRICASTALKING_API_KEY else "http://127.0.0.1:9402",
)
if not AFRICASTALKING_API_KEY:
    AFRICASTALKING_API_KEY = "local-standin-key"
SMS_CONNECT_TIMEOUT_SECONDS = env.float("SMS_CONNECT_TIMEOUT_SECONDS", default=3.05)
SMS_READ_TIMEOUT_SECONDS = env.float("SMS_READ_TIMEOUT_SECONDS", default=10.0)

# Admin email over SMTP. Defaults: the local sink (`ecomms-smtp-sink`, port 1025, libs/standins).
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env.str("EMAIL_HOST", default="127.0.0.1")
EMAIL_PORT = env.int("EMAIL_PORT", default=1025)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=False)
EMAIL_TIMEOUT = env.float("EMAIL_TIMEOUT", default=10.0)
# A delivery thread's SMTP connection stays open between messages; one idle longer than this is
# opened again before the next message (under common servers' idle timeouts, e.g. 60 s).
EMAIL_KEEPALIVE_SECONDS = env.float("EMAIL_KEEPALIVE_SECONDS", default=30.0)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="ecomms <noreply@ecomms.local>")
EMAIL_MESSAGE_ID_DOMAIN = env.str("EMAIL_MESSAGE_ID_DOMAIN", default="ecomms.local")
ADMIN_EMAIL = env.str("ADMIN_EMAIL", default="admin@example.com")
