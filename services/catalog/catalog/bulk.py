"""Bulk writes for uploads of thousands of products.

They use COPY and single set-based statements; ``bulk_create``/``bulk_update`` build a model
instance per row and, for updates, a CASE branch per row, which costs seconds per 10,000 products.
"""

import gc
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

from django.db import connection

from catalog.models import Category, CategoryPriceStat, Product

LINKS = Product.categories.through


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Hold off Python's cycle collector while an upload builds and drops ~10^5 objects.

    They are freed by reference counting anyway; left on, the collector would walk the whole
    heap several times per 10,000 products (a fifth of the upload's time, measured).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


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


# COPY's text format: these four characters are escaped, NULL is \N (PostgreSQL docs, COPY).
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"})
_COPY_SPECIAL = re.compile(r"[\\\n\r\t]")
_COPY_BATCH_LINES = 1000


def _text(value: str | None) -> str:
    if value is None:
        return "\\N"
    return value.translate(_COPY_ESCAPES) if _COPY_SPECIAL.search(value) else value


def _copy_text(cursor, sql: str, lines: Iterable[str]) -> None:
    """Send lines already in COPY's text format, a thousand per write.

    Much cheaper than ``write_row``, which adapts every value of every row one by one. The server
    stores each batch while the next one is formatted here: batches of 1,000 lines took a fifth
    less time than batches of 5,000 for 10,000 products (250 were no better than 1,000).
    """
    # psycopg's own copy: Django's wrapper turns its errors into Django's, as for execute()
    with connection.wrap_database_errors, cursor.cursor.copy(sql) as copy:
        batch: list[str] = []
        for line in lines:
            batch.append(line)
            if len(batch) == _COPY_BATCH_LINES:
                copy.write("".join(batch))
                batch.clear()
        if batch:
            copy.write("".join(batch))


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
        _copy_text(
            cursor,
            f"COPY {table} (id, name, description, price, currency, sku, created_at, updated_at) "
            "FROM STDIN",
            (
                f"{pk}\t{_text(row.name)}\t{_text(row.description)}\t{row.price}\t"
                f"{_text(row.currency)}\t{_text(row.sku)}\t{stamp}\t{stamp}\n"
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
        _copy_text(
            cursor,
            f"COPY {LINKS._meta.db_table} (product_id, category_id) FROM STDIN",
            (f"{product_id:d}\t{category_id:d}\n" for product_id, category_id in links),
        )


@contextmanager
def foreign_keys_checked_meanwhile() -> Iterator[None]:
    """Have PostgreSQL check the transaction's pending foreign keys while the block computes.

    Django declares foreign keys DEFERRABLE INITIALLY DEFERRED, so the server checks each new
    link row at COMMIT, about a fifth of an upload's time, with this process waiting. Here
    ``SET CONSTRAINTS ALL IMMEDIATE`` runs them at once, sent in pipeline mode so that the block
    goes on meanwhile; its end waits for them (a violation raises IntegrityError there). The rest
    of the transaction checks its constraints statement by statement.
    """
    with connection.wrap_database_errors, connection.connection.pipeline():
        with connection.connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        yield


def stats_add(deltas: Sequence[tuple[int, str, int, int, int, int]]) -> None:
    """Add (category, currency, subtree n, subtree cents, own n, own cents) to the aggregates."""
    stat = CategoryPriceStat._meta.db_table
    columns = "category_id, currency, subtree_count, subtree_sum, own_count, own_sum"
    updates = ", ".join(
        f"{column} = {stat}.{column} + EXCLUDED.{column}"
        for column in ("subtree_count", "subtree_sum", "own_count", "own_sum")
    )
    upsert = f"ON CONFLICT (category_id, currency) DO UPDATE SET {updates}"
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS catalog_stat_delta (category_id bigint, "
            "currency varchar(3), subtree_count bigint, subtree_cents bigint, own_count bigint, "
            "own_cents bigint) ON COMMIT DELETE ROWS"
        )
        cursor.execute("TRUNCATE catalog_stat_delta")
        delta_columns = "category_id, currency, subtree_count, subtree_cents, own_count, own_cents"
        copy_sql = f"COPY catalog_stat_delta ({delta_columns}) FROM STDIN"
        with connection.wrap_database_errors, cursor.cursor.copy(copy_sql) as copy:
            for row in deltas:
                copy.write_row(row)
        # numeric * 0.01 is exact: the sums stay whole cents
        cursor.execute(
            f"INSERT INTO {stat} ({columns}) "  # noqa: S608 - table names only
            "SELECT category_id, currency, subtree_count, subtree_cents * 0.01, own_count, "
            "own_cents * 0.01 FROM catalog_stat_delta ORDER BY category_id, currency "
            f"{upsert}"
        )


def tree_rebuild(*, tree_ids: Iterable[int]) -> None:
    """Recompute lft/rght/level of whole trees from the parent links, siblings kept in order.

    Nodes not placed yet (lft 0) become the last children of their parents, where mptt itself
    inserts a node. mptt's partial_rebuild saves every node through one CASE expression per row,
    which takes seconds for a few thousand categories; this writes, in one statement, only the
    nodes whose numbers changed.
    """
    tree_ids = sorted(set(tree_ids))
    rows = Category.objects.filter(tree_id__in=tree_ids).order_by("tree_id", "lft", "id")
    children: dict[int | None, list[int]] = {}
    added: dict[int | None, list[int]] = {}  # not placed yet (lft 0): after their siblings
    current: dict[int, tuple[int, int, int]] = {}
    for category_id, parent_id, lft, rght, level in rows.values_list(
        "id", "parent_id", "lft", "rght", "level"
    ):
        (added if lft == 0 else children).setdefault(parent_id, []).append(category_id)
        current[category_id] = (lft, rght, level)
    for parent_id, new_children in added.items():
        children.setdefault(parent_id, []).extend(new_children)
    ids, lefts, rights, levels = [], [], [], []
    for root in children.get(None, []):
        counter = 1
        opened: dict[int, int] = {}
        stack = [(root, 0, False)]
        while stack:
            node, level, closing = stack.pop()
            if closing:
                if current[node] != (opened[node], counter, level):  # write only what moved
                    ids.append(node)
                    lefts.append(opened[node])
                    rights.append(counter)
                    levels.append(level)
            else:
                opened[node] = counter
                stack.append((node, level, True))
                stack.extend(
                    (child, level + 1, False) for child in reversed(children.get(node, []))
                )
            counter += 1
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Category._meta.db_table} AS c "  # noqa: S608 - table name only
            "SET lft = v.lft, rght = v.rght, level = v.level "
            "FROM unnest(%s::bigint[], %s::int[], %s::int[], %s::int[]) AS v(id, lft, rght, level) "
            "WHERE c.id = v.id",
            [ids, lefts, rights, levels],
        )
