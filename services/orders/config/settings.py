"""Settings of the orders service: shared defaults from ecomms_common, all from the env."""

from pathlib import Path

from ecomms_common.base_settings import *  # noqa: F403
from ecomms_common.base_settings import (
    INSTALLED_APPS,
    SPECTACULAR_SETTINGS,
    database,
    logging_config,
)

BASE_DIR = Path(__file__).resolve().parent.parent
SERVICE_NAME = "orders"

INSTALLED_APPS = [*INSTALLED_APPS, "ecomms_common.outbox", "orders"]
DATABASES = {"default": database(default_sqlite=BASE_DIR / "db.sqlite3")}
LOGGING = logging_config(service=SERVICE_NAME)
READINESS_CHECKS = ["database", "broker"]
SPECTACULAR_SETTINGS = {
    **SPECTACULAR_SETTINGS,
    "TITLE": "ecomms orders",
    "DESCRIPTION": "Customers and orders; publishes order events through an outbox.",
}
