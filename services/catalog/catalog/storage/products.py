"""Bulk writes of products and their category links, for uploads of thousands of products.

They use COPY and single set-based statements; ``bulk_create``/``bulk_update`` build a model
instance per row and, for updates, a CASE branch per row, which costs seconds per 10,000 products.
"""

from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

from django.db import connection

from catalog.models import Product
from catalog.storage.copy import copy_field, copy_lines

LINKS = Product.categories.through


class ProductRow(NamedTuple):
    id: int | None
    name: str
    description: str
    price: Decimal
    currency: str
    sku: str | None


def product_ids_by_sku(skus: Sequence[str]) -> dict[str, int]:
    """Return {sku: product id} for the skus that exist."""
    with connection.cursor() as cursor:
        # One text parameter: psycopg adapts a list element by element, in Python. A sku never
        # holds a comma (catalog.validation.SKU_PATTERN).
        cursor.execute(
            f"SELECT sku, id FROM {Product._meta.db_table} "  # noqa: S608 - table name only
            "WHERE sku = ANY(string_to_array(%s, ','))",
            [",".join(skus)],
        )
        return dict(cursor.fetchall())


def products_insert(rows: Sequence[ProductRow], *, now: datetime) -> list[int]:
    """Insert new products; return their ids in the order given."""
    if not rows:
        return []
    table = Product._meta.db_table
    with connection.cursor() as cursor:
        # The sequence is looked up once: called per row, pg_get_serial_sequence costs about
        # five times as much as nextval itself
        cursor.execute(
            "WITH s AS MATERIALIZED (SELECT pg_get_serial_sequence(%s, 'id')::regclass AS seq) "
            "SELECT nextval(s.seq) FROM s, generate_series(1, %s)",
            [table, len(rows)],
        )
        ids = [pk for (pk,) in cursor.fetchall()]
        stamp = now.isoformat()
        copy_lines(
            cursor,
            f"COPY {table} (id, name, description, price, currency, sku, created_at, updated_at) "
            "FROM STDIN",
            (
                f"{pk}\t{copy_field(row.name)}\t{copy_field(row.description)}\t{row.price}\t"
                f"{copy_field(row.currency)}\t{copy_field(row.sku)}\t{stamp}\t{stamp}\n"
                for pk, row in zip(ids, rows, strict=True)
            ),
        )
    return ids


def products_update(rows: Sequence[ProductRow], *, now: datetime) -> None:
    """Write name, description, price and currency of existing products."""
    if not rows:
        return
    columns = list(
        zip(*[(r.id, r.name, r.description, r.price, r.currency) for r in rows], strict=True)
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Product._meta.db_table} AS p "  # noqa: S608 - table name only
            "SET name = v.name, description = v.description, price = v.price, "
            "currency = v.currency, updated_at = %s "
            "FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::numeric[], %s::text[]) "
            "AS v(id, name, description, price, currency) WHERE p.id = v.id",
            [now, *[list(column) for column in columns]],
        )


def links_replace(product_ids: Sequence[int], links: Iterable[tuple[int, int]]) -> None:
    """Drop the category links of these products, then insert (product id, category id) pairs."""
    for start in range(0, len(product_ids), 5000):
        LINKS.objects.filter(product_id__in=product_ids[start : start + 5000]).delete()
    with connection.cursor() as cursor:
        copy_lines(
            cursor,
            f"COPY {LINKS._meta.db_table} (product_id, category_id) FROM STDIN",
            (f"{product_id:d}\t{category_id:d}\n" for product_id, category_id in links),
        )
