"""Settings for testing the shared package inside a minimal Django project."""

from ecomms_common.base_settings import *  # noqa: F403
from ecomms_common.base_settings import INSTALLED_APPS, LOGGING, SPECTACULAR_SETTINGS

SERVICE_NAME = "common-tests"
INSTALLED_APPS = [*INSTALLED_APPS, "ecomms_common.outbox", "tests"]
ROOT_URLCONF = "tests.urls"
READINESS_CHECKS = ["database", "broker"]
REQUEST_BODY_MAX_BYTES = 1024
SPECTACULAR_SETTINGS = {**SPECTACULAR_SETTINGS, "TITLE": "ecomms common (tests)"}
LOGGING["loggers"]["pika"] = {"level": "WARNING"}
