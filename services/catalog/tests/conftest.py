import json
from dataclasses import dataclass
from decimal import Decimal
from wsgiref.util import setup_testing_defaults

import psycopg
import pytest
from catalog.models import Category, Product
from django.db import connection

pytest_plugins = ["ecomms_common.testing.pytest_plugin"]


@pytest.fixture
def admin_auth(bearer):
    return bearer(roles=["customer", "admin"], email="admin@example.com")


@pytest.fixture
def customer_auth(bearer):
    return bearer(roles=["customer"])


@pytest.fixture
def upload(api_client, admin_auth):
    """POST products to /products/upload/ as an admin; return the response."""

    def post(*products: dict, expect: int | None = 201):
        response = api_client.post(
            "/products/upload/", {"products": list(products)}, format="json", **admin_auth
        )
        if expect is not None:
            assert response.status_code == expect, response.content
        return response

    return post


# The products of a category's subtree found through the tree itself (links, then the nested-set
# range of the category: tree_id, lft, rght), as tests compare the browse index with it.
SUBTREE_PRODUCTS_SQL = (
    "SELECT p.id FROM catalog_product p WHERE EXISTS (SELECT 1 FROM "
    "catalog_product_categories pc JOIN catalog_category c ON c.id = pc.category_id "
    "WHERE pc.product_id = p.id AND c.tree_id = %s AND c.lft BETWEEN %s AND %s)"
)


def product(name="Whole Wheat Bread", price="3.99", currency="USD", paths=None, **extra) -> dict:
    """One item of an upload payload."""
    return {
        "name": name,
        "description": extra.pop("description", "Fresh"),
        "price": price,
        "currency": currency,
        "categories": paths if paths is not None else [["All Products", "Bakery", "Bread"]],
        **extra,
    }


def naive_average(slug: str, currency: str = "USD", include_descendants: bool = True):
    """Recompute an average price straight from products and the tree, independently."""
    category = Category.objects.get(slug=slug)
    scope = category.get_descendants(include_self=True) if include_descendants else [category]
    ids = {node.pk for node in scope}
    prices = [
        item.price
        for item in Product.objects.filter(currency=currency).prefetch_related("categories")
        if ids & {c.pk for c in item.categories.all()}
    ]
    if not prices:
        return 0, None
    return len(prices), (sum(prices, Decimal(0)) / len(prices)).quantize(
        Decimal("0.01"), "ROUND_HALF_UP"
    )


@dataclass
class WsgiAnswer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


@pytest.fixture
def wsgi(transactional_db):
    """Call a WSGI application as gunicorn would (by default config.wsgi's, the one it serves).

    The test's data is committed (``transactional_db``), as in production: the application
    closes connections that are not in autocommit mode, like Django after each request.
    """
    from config.wsgi import application as served

    def call(
        path, query="", method="GET", headers=None, application=served, peer="127.0.0.1"
    ) -> WsgiAnswer:
        environ = {
            "REQUEST_METHOD": method,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "REMOTE_ADDR": peer,
            "RAW_URI": f"{path}?{query}" if query else path,  # the request line's target
        }
        for name, value in (headers or {}).items():
            key = name.upper().replace("-", "_")
            # as a server passes them (PEP 3333): these two without the HTTP_ prefix
            environ[key if key in ("CONTENT_LENGTH", "CONTENT_TYPE") else "HTTP_" + key] = value
        setup_testing_defaults(environ)
        started = {}

        def start_response(status, response_headers, exc_info=None):
            started.update(status=int(status.split()[0]), headers=dict(response_headers))

        chunks = application(environ, start_response)
        try:
            body = b"".join(chunks)
        finally:
            getattr(chunks, "close", lambda: None)()
        return WsgiAnswer(started["status"], started["headers"], body)

    return call


def other_session() -> psycopg.Connection:
    """Open a second connection to the test database, beside the one the application uses."""
    database = connection.settings_dict
    return psycopg.connect(
        host=database["HOST"],
        port=database["PORT"] or None,
        user=database["USER"],
        dbname=database["NAME"],
        autocommit=True,
    )
