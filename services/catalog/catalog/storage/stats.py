"""The SQL of the price aggregates: deltas added in bulk, memberships read, a full recomputation.

What the deltas are is computed in plain Python by :mod:`catalog.aggregates`; this module only
moves rows between it and the database.
"""

from collections.abc import Sequence
from decimal import Decimal

from django.db import connection

from catalog.models import Category, CategoryPriceStat, Product

_SUBTREE_SOURCE = """
    SELECT DISTINCT a.id AS category_id, p.id AS product_id, p.currency AS currency,
                    p.price AS price
    FROM {product} p
    JOIN {links} pc ON pc.product_id = p.id
    JOIN {category} c ON c.id = pc.category_id
    JOIN {category} a ON a.tree_id = c.tree_id AND a.lft <= c.lft AND a.rght >= c.rght
"""

_OWN_SOURCE = """
    SELECT pc.category_id AS category_id, p.id AS product_id, p.currency AS currency,
           p.price AS price
    FROM {product} p
    JOIN {links} pc ON pc.product_id = p.id
"""


def _tables() -> dict[str, str]:
    return {
        "product": Product._meta.db_table,
        "links": Product.categories.through._meta.db_table,
        "category": Category._meta.db_table,
        "stat": CategoryPriceStat._meta.db_table,
    }


def product_memberships(product_ids: Sequence[int]) -> dict[int, tuple[str, int, set[int]]]:
    """Return {product id: (currency, price in cents, ids of its categories)} as stored."""
    tables = _tables()
    memberships: dict[int, tuple[str, int, set[int]]] = {}
    select = (
        "SELECT p.id, p.currency, (p.price * 100)::bigint, pc.category_id "  # noqa: S608 - table names only
        f"FROM {tables['product']} p JOIN {tables['links']} pc ON pc.product_id = p.id "
    )
    with connection.cursor() as cursor:
        # one array parameter, however many products
        cursor.execute(select + "WHERE p.id = ANY(%s)", [list(product_ids)])
        for product_id, currency, cents, category_id in cursor.fetchall():
            entry = memberships.setdefault(product_id, (currency, int(cents), set()))
            entry[2].add(category_id)
    return memberships


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


def stats_recompute() -> dict[tuple[int, str], tuple[int, Decimal, int, Decimal]]:
    """Return all aggregates computed from scratch, joining nested-set ranges.

    ``{(category id, currency): (subtree count, subtree sum, own count, own sum)}``
    """
    tables = _tables()
    result: dict[tuple[int, str], list] = {}
    with connection.cursor() as cursor:
        for source, offset in ((_SUBTREE_SOURCE, 0), (_OWN_SOURCE, 2)):
            source_sql = source.format(**tables)
            cursor.execute(
                "SELECT t.category_id, t.currency, COUNT(*), SUM(t.price) "  # noqa: S608 - table names only
                f"FROM ({source_sql}) t GROUP BY t.category_id, t.currency"
            )
            for category_id, currency, count, total in cursor.fetchall():
                row = result.setdefault((category_id, currency), [0, Decimal(0), 0, Decimal(0)])
                row[offset], row[offset + 1] = count, Decimal(total)
    return {key: tuple(value) for key, value in result.items()}
