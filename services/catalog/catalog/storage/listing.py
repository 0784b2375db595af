"""The browse index's SQL: rows inserted and deleted in bulk, pages read by keyset.

A page of a category's subtree newest first is one range of the primary key (category, product)
of ``catalog_subtree_product``; by price in cents, one short range per epoch of product ids of
``subtree_product_epoch_price_idx`` (see EPOCH_BITS), merged; then the page's products and their
category slugs by primary key: the same few index reads for a category of three products and for
the root of ten million. Rows are read as tuples and turned into the API's JSON by catalog.api,
not into model instances; the reads are prepared statements of the connection
(catalog.storage.reads).
"""

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection

from catalog.models import Category, Product, SubtreeProduct
from catalog.storage.reads import read_rows

LISTING = SubtreeProduct._meta.db_table
PRODUCT = Product._meta.db_table
CATEGORY = Category._meta.db_table
LINKS = Product.categories.through._meta.db_table


# A product's epoch: its id's high bits. The price index (subtree_product_epoch_price_idx) sorts
# a category's rows by epoch before price, so that an upload's new rows land in the latest epoch's
# part of each category, pages written a moment ago, instead of all over the category's range (a
# random leaf page for almost every row, far more pages than the server keeps in memory at a
# million products). A page by price reads each epoch of the category in price order and merges.
EPOCH_BITS = 16

_INSERT_LISTED = (
    f"INSERT INTO {LISTING} (category_id, product_id, price_cents) "  # noqa: S608 - table name only
    "SELECT a.id::bigint, l.product_id, l.cents FROM string_to_table(%s, ';') AS t(line) "
    "CROSS JOIN LATERAL (SELECT split_part(t.line, ' ', 1)::bigint AS product_id, "
    "split_part(t.line, ' ', 2)::bigint AS cents, split_part(t.line, ' ', 3) AS ancestors) l "
    "CROSS JOIN LATERAL string_to_table(l.ancestors, ',') AS a(id) "
    f"ORDER BY 1, l.product_id >> {EPOCH_BITS}, l.cents, l.product_id"
)


def listing_insert(lines: Iterable[str]) -> None:
    """Insert the rows of products given as ``"<product id> <cents> <category ids>"`` lines, the
    ids of every category the product is listed under (each once) joined by commas.

    One statement: PostgreSQL splits the lines into rows and sorts them by the price index's
    key before inserting, so that both indexes are written in key order (a category's new rows
    side by side) instead of in product order.
    """
    text = ";".join(lines)
    if not text:
        return
    with connection.cursor() as cursor:
        # The sort of an upload's ~90,000 rows fits in memory (no temporary file), and the
        # planner, which cannot tell how many rows the text holds, does not compile it with JIT
        # (about 12 ms an upload)
        cursor.execute(
            "SELECT set_config('work_mem', '32MB', true), set_config('jit', 'off', true)"
        )
        cursor.execute(_INSERT_LISTED, [text])


def listing_remove(rows: Iterable[tuple[int, int, int]]) -> None:
    """Delete these (category id, product id, _) rows, by primary key."""
    categories, products = [], []
    for category_id, product_id, _ in rows:
        categories.append(category_id)
        products.append(product_id)
    if not categories:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {LISTING} AS s USING unnest(%s::bigint[], %s::bigint[]) "  # noqa: S608 - table name only
            "AS v(category_id, product_id) "
            "WHERE s.category_id = v.category_id AND s.product_id = v.product_id",
            [categories, products],
        )


_RECOMPUTED = (
    f"SELECT DISTINCT a.id, p.id, (p.price * 100)::bigint FROM {PRODUCT} p "  # noqa: S608 - table names only
    f"JOIN {LINKS} pc ON pc.product_id = p.id "
    f"JOIN {CATEGORY} c ON c.id = pc.category_id "
    f"JOIN {CATEGORY} a ON a.tree_id = c.tree_id AND a.lft <= c.lft AND a.rght >= c.rght"
)


def listing_differences(*, limit: int) -> list[tuple[int, int, int, bool]]:
    """Return up to ``limit`` rows the browse index holds but should not (False) and up to
    ``limit`` it misses (True), against a recomputation from the nested-set ranges in SQL."""
    stored = f"SELECT category_id, product_id, price_cents FROM {LISTING}"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(
            f"(SELECT *, false FROM ({stored} EXCEPT {_RECOMPUTED}) extra LIMIT %s) UNION ALL "  # noqa: S608
            f"(SELECT *, true FROM ({_RECOMPUTED} EXCEPT {stored}) missing LIMIT %s) "
            "ORDER BY 1, 2",
            [limit, limit],
        )
        return cursor.fetchall()


def listing_replace() -> None:
    """Replace the browse index with its recomputation."""
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {LISTING}")  # noqa: S608 - table name only
        cursor.execute(
            f"INSERT INTO {LISTING} (category_id, product_id, price_cents) {_RECOMPUTED}"
        )


@dataclass(frozen=True)
class Order:
    """A sort key: by price or by id (newest first is id descending), descending or not."""

    by_price: bool
    descending: bool


# (id, name, description, price, currency, sku, created_at, updated_at, category slugs), the
# price and the times as text in the API's format: no Decimal or datetime made to be printed
ProductRecord = tuple


def _iso_time(column: str) -> str:
    """Return SQL giving a timestamp as DRF prints it in UTC: microseconds only when not 0."""
    return (
        f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') || CASE WHEN "
        f"mod(extract(microseconds FROM {column})::bigint, 1000000) = 0 THEN '' "
        f"ELSE to_char({column} AT TIME ZONE 'UTC', '.US') END || 'Z'"
    )


_PRODUCT_COLUMNS = (
    "p.id, p.name, p.description, p.price::text, p.currency, p.sku, "  # noqa: S608
    f"{_iso_time('p.created_at')}, {_iso_time('p.updated_at')}, "
    f"ARRAY(SELECT c.slug FROM {LINKS} pc JOIN {CATEGORY} c ON c.id = pc.category_id "
    "WHERE pc.product_id = p.id ORDER BY c.tree_id, c.lft)"
)


def product_record(product_id: int) -> ProductRecord | None:
    """Return one product with its category slugs (in tree order), or None."""
    rows = read_rows(
        f"SELECT {_PRODUCT_COLUMNS} FROM {PRODUCT} p WHERE p.id = %s",  # noqa: S608
        [product_id],
        limit=1,
    )
    return rows[0] if rows else None


def category_id(slug: str) -> int | None:
    """Return the id of the category with this slug, or None."""
    rows = read_rows(f"SELECT id FROM {CATEGORY} WHERE slug = %s", [slug], limit=1)  # noqa: S608
    return rows[0][0] if rows else None


def product_page(
    *,
    category_id: int | None,
    order: Order,
    after: tuple[Decimal, int] | None,
    backwards: bool,
    size: int,
) -> list[ProductRecord]:
    """Return up to ``size`` products of a subtree (or of the catalog) in this order.

    ``after`` is the (price, id) of the product the page starts after, in the direction read:
    ``backwards`` reads the order reversed (the page before a cursor), still returning the rows
    in that reversed order.
    """
    descending = order.descending != backwards
    direction, comparison = ("DESC", "<") if descending else ("ASC", ">")
    if category_id is None:
        table, price, product_id, where, params = PRODUCT, "price", "id", [], []
    else:
        table, price, product_id = LISTING, "price_cents", "product_id"
        where, params = ["category_id = %s"], [category_id]
        if after is not None:
            after = (int(after[0] * 100), after[1])
    keys = [price, product_id] if order.by_price else [product_id]
    if after is not None:
        where.append(f"({', '.join(keys)}) {comparison} ({', '.join(['%s'] * len(keys))})")
        params.extend(after if order.by_price else after[1:])
    sort = ", ".join(f"{key} {direction}" for key in keys)
    outer = ", ".join(f"page.{key} {direction}" for key in keys)
    if category_id is not None and order.by_price:
        # each epoch of the category in price order (one range of the price index each), the
        # first ``size`` of them all
        epochs = (
            f"generate_series((SELECT min(product_id) FROM {LISTING} WHERE category_id = %s) "  # noqa: S608
            f">> {EPOCH_BITS}, (SELECT max(product_id) FROM {LISTING} WHERE category_id = %s) "
            f">> {EPOCH_BITS}) AS e(epoch)"
        )
        where.insert(1, f"product_id >> {EPOCH_BITS} = e.epoch")
        page = (
            f"SELECT s.product_id, s.price_cents FROM {epochs} CROSS JOIN LATERAL "  # noqa: S608
            f"(SELECT product_id, price_cents FROM {LISTING} WHERE {' AND '.join(where)} "
            f"ORDER BY {sort} LIMIT %s) AS s ORDER BY {sort} LIMIT %s"
        )
        params = [category_id, category_id, *params, size]
    else:
        condition = f"WHERE {' AND '.join(where)}" if where else ""
        page = f"SELECT {product_id}, {price} FROM {table} {condition} ORDER BY {sort} LIMIT %s"  # noqa: S608
    return read_rows(
        f"SELECT {_PRODUCT_COLUMNS} FROM ({page}) "  # noqa: S608 - names only
        f"AS page JOIN {PRODUCT} p ON p.id = page.{product_id} ORDER BY {outer}",
        [*params, size],
    )
