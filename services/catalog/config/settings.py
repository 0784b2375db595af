"""Settings of the catalog service: shared defaults from ecomms_common, all from the env."""

from catalog.api.schema import APPEND_COMPONENTS, APPEND_PATHS

from ecomms_common.base_settings import *  # noqa: F403
from ecomms_common.base_settings import DATABASES, INSTALLED_APPS, SPECTACULAR_SETTINGS, env

SERVICE_NAME = "catalog"

INSTALLED_APPS = [*INSTALLED_APPS, "mptt", "catalog"]
# average_price is one indexed lookup: Django's health check of a kept connection (a SELECT 1
# before each request's first query) would double its database round trips. That read reconnects
# once by itself instead (catalog.selectors); any other request on a connection the server has
# dropped fails with 503, and Django then closes the connection, so the next one reconnects.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = False
# Django turns psycopg's prepared statements off; the average_price read prepares its query
# (catalog.selectors). Django's own cursors bind parameters client-side and never prepare.
DATABASES["default"]["OPTIONS"]["prepare_threshold"] = 5
READINESS_CHECKS = ["database"]
SPECTACULAR_SETTINGS = {
    **SPECTACULAR_SETTINGS,
    "TITLE": "ecomms catalog",
    "DESCRIPTION": "Category tree, products and subtree price aggregates.",
    "APPEND_PATHS": APPEND_PATHS,
    "APPEND_COMPONENTS": APPEND_COMPONENTS,
}

# A 10,000-product upload is a few MB of JSON.
REQUEST_BODY_MAX_BYTES = env.int("REQUEST_BODY_MAX_BYTES", default=32 * 1024 * 1024)
CATALOG_DEFAULT_CURRENCY = env.str("CATALOG_DEFAULT_CURRENCY", default="USD")
CATALOG_MAX_UPLOAD_PRODUCTS = env.int("CATALOG_MAX_UPLOAD_PRODUCTS", default=10_000)
# Answer successful average_price reads ahead of Django's request handling
# (catalog.api.average_price); it steps aside by itself when MIDDLEWARE is not the list it was
# verified against.
CATALOG_AVERAGE_PRICE_FAST_PATH = env.bool("CATALOG_AVERAGE_PRICE_FAST_PATH", default=True)
# The same for a product's detail and a page of products (catalog.api.product_reads).
CATALOG_PRODUCT_FAST_PATH = env.bool("CATALOG_PRODUCT_FAST_PATH", default=True)
