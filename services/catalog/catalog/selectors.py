"""Reads of the catalog. None of them scans products to answer a price question."""

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import psycopg
from django.db import NotSupportedError, OperationalError, connection
from django.db.models import Exists, OuterRef, QuerySet

from catalog.models import Category, CategoryPriceStat, Product
from ecomms_common.errors import sqlstate

CENT = Decimal("0.01")
FEATURE_NOT_SUPPORTED = "0A000"


@dataclass(frozen=True)
class AveragePrice:
    category: str
    currency: str
    include_descendants: bool
    product_count: int
    average_price: Decimal | None


def category_average_price(
    *, slug: str, currency: str, include_descendants: bool = True
) -> AveragePrice | None:
    """Return the mean price of the distinct products of one currency, or None for no category.

    One indexed lookup of the maintained aggregates (see catalog.aggregates), in one query.
    """
    # Raw SQL: this is the hot read, and building the ORM query costs more than running it.
    prefix = "subtree" if include_descendants else "own"
    row = _read_one(
        f"SELECT s.{prefix}_count, s.{prefix}_sum FROM {Category._meta.db_table} c "  # noqa: S608 - names only
        f"LEFT JOIN {CategoryPriceStat._meta.db_table} s "
        "ON s.category_id = c.id AND s.currency = %s WHERE c.slug = %s",
        [currency, slug],
    )
    if row is None:
        return None
    count, total = row[0] or 0, row[1]
    average = None
    if count:
        average = (Decimal(total) / count).quantize(CENT, ROUND_HALF_UP)
    return AveragePrice(slug, currency, include_descendants, count, average)


def _read_one(sql: str, params: list) -> tuple | None:
    """Run a read-only query and return its first row, reconnecting once if the connection broke.

    The query is a prepared statement of the connection (planned once, not on
    every call: that halves the database's time for the average_price read).

    The catalog runs without Django's per-request connection health check (a round trip of its
    own, as long as this whole read; see config.settings), so a connection the server dropped
    since its last use is found here, and the read, being idempotent, is sent again.
    """
    for attempt in (1, 2):
        try:
            connection.ensure_connection()
            # Django's cursors bind parameters client-side, and those cannot be prepared
            with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
                cursor.execute(sql, params, prepare=True)
                return cursor.fetchone()
        except (OperationalError, NotSupportedError) as exc:
            if attempt == 2 or connection.in_atomic_block or not _worth_a_new_connection(exc):
                raise
            connection.close()
    raise AssertionError("unreachable")


def _worth_a_new_connection(exc: Exception) -> bool:
    """Return whether a read that failed this way succeeds again on a new connection.

    Besides a broken connection, that is a prepared statement whose columns a migration changed
    ("cached plan must not change result type"): a new connection prepares it again.
    """
    if isinstance(exc, OperationalError):
        return True
    return sqlstate(exc) == FEATURE_NOT_SUPPORTED


def product_list(*, category: Category | None = None) -> QuerySet[Product]:
    """Return products, optionally only those in a category's subtree (each product once)."""
    products = Product.objects.all()
    if category is not None:
        links = Product.categories.through.objects.filter(
            product_id=OuterRef("pk"),
            category__tree_id=category.tree_id,
            category__lft__gte=category.lft,
            category__rght__lte=category.rght,
        )
        products = products.filter(Exists(links))
    return products.prefetch_related("categories")


def product_lookup(*, ids: list[int]) -> tuple[list[Product], list[int]]:
    """Return the products with these ids (in the order asked) and the ids that do not exist."""
    found = {
        product.pk: product
        for product in Product.objects.filter(pk__in=ids).only("id", "name", "price", "currency")
    }
    return [found[pk] for pk in ids if pk in found], [pk for pk in ids if pk not in found]


def category_tree() -> list[dict]:
    """Return every tree as nested ``{"name", "slug", "children": [...]}``, siblings by name."""
    nodes: dict[int, dict] = {}
    roots: list[dict] = []
    rows = Category.objects.order_by("tree_id", "lft").values_list(
        "id", "parent_id", "name", "slug", "level"
    )
    for category_id, parent_id, name, slug, level in rows:
        node = {"name": name, "slug": slug, "level": level, "children": []}
        nodes[category_id] = node
        (nodes[parent_id]["children"] if parent_id else roots).append(node)

    def order(siblings: list[dict]) -> list[dict]:
        siblings.sort(key=lambda node: node["name"].lower())
        for node in siblings:
            order(node["children"])
        return siblings

    return order(roots)
