"""Per-category, per-currency price aggregates, kept exact with every write.

A product contributes (+1, +price) to every category whose subtree holds at least one of its
categories, once, however many of them it is in. Writers call :func:`stats_apply` with ``sign=-1``
for the products they are about to change (while the database still shows the old state) and with
``sign=+1`` once the change is written: the difference is exact, whatever changed (price, currency,
categories, or the tree above them). All writers hold the catalog lock (catalog.services), so the
ancestry these queries read cannot change under them.
"""

from collections.abc import Iterable, Sequence
from decimal import Decimal

from django.db import connection

from catalog.models import Category, CategoryPriceStat, Product

CHUNK = 2000

_SUBTREE_SOURCE = """
    SELECT DISTINCT a.id AS category_id, p.id AS product_id, p.currency AS currency,
                    p.price AS price
    FROM {product} p
    JOIN {links} pc ON pc.product_id = p.id
    JOIN {category} c ON c.id = pc.category_id
    JOIN {category} a ON a.tree_id = c.tree_id AND a.lft <= c.lft AND a.rght >= c.rght
    {where}
"""

_OWN_SOURCE = """
    SELECT pc.category_id AS category_id, p.id AS product_id, p.currency AS currency,
           p.price AS price
    FROM {product} p
    JOIN {links} pc ON pc.product_id = p.id
    {where}
"""

_UPSERT = """
    INSERT INTO {stat} (category_id, currency, subtree_count, subtree_sum, own_count, own_sum)
    SELECT t.category_id, t.currency, {counts}
    FROM ({source}) t
    WHERE 1 = 1
    GROUP BY t.category_id, t.currency
    ORDER BY t.category_id, t.currency
    ON CONFLICT (category_id, currency) DO UPDATE SET {updates}
"""


def _tables() -> dict[str, str]:
    return {
        "product": Product._meta.db_table,
        "links": Product.categories.through._meta.db_table,
        "category": Category._meta.db_table,
        "stat": CategoryPriceStat._meta.db_table,
    }


def _upsert_sql(source: str, prefix: str, sign: int, where: str) -> str:
    tables = _tables()
    if prefix == "subtree":
        counts = f"{sign} * COUNT(*), {sign} * SUM(t.price), 0, 0"
    else:
        counts = f"0, 0, {sign} * COUNT(*), {sign} * SUM(t.price)"
    stat = tables["stat"]
    updates = (
        f"{prefix}_count = {stat}.{prefix}_count + EXCLUDED.{prefix}_count, "
        f"{prefix}_sum = {stat}.{prefix}_sum + EXCLUDED.{prefix}_sum"
    )
    return _UPSERT.format(
        stat=stat,
        counts=counts,
        source=source.format(where=where, **tables),
        updates=updates,
    )


def stats_apply(*, product_ids: Sequence[int], sign: int) -> None:
    """Add (sign=+1) or remove (sign=-1) the products' current contribution to every aggregate."""
    assert sign in (1, -1)
    with connection.cursor() as cursor:
        for start in range(0, len(product_ids), CHUNK):
            chunk = list(product_ids[start : start + CHUNK])
            where = f"WHERE p.id IN ({', '.join(['%s'] * len(chunk))})"
            cursor.execute(_upsert_sql(_SUBTREE_SOURCE, "subtree", sign, where), chunk)
            cursor.execute(_upsert_sql(_OWN_SOURCE, "own", sign, where), chunk)


def stats_recompute() -> dict[tuple[int, str], tuple[int, Decimal, int, Decimal]]:
    """Return all aggregates computed from scratch.

    ``{(category id, currency): (subtree count, subtree sum, own count, own sum)}``
    """
    tables = _tables()
    result: dict[tuple[int, str], list] = {}
    with connection.cursor() as cursor:
        for source, offset in ((_SUBTREE_SOURCE, 0), (_OWN_SOURCE, 2)):
            source_sql = source.format(where="", **tables)
            cursor.execute(
                "SELECT t.category_id, t.currency, COUNT(*), SUM(t.price) "  # noqa: S608 - table names only
                f"FROM ({source_sql}) t GROUP BY t.category_id, t.currency"
            )
            for category_id, currency, count, total in cursor.fetchall():
                row = result.setdefault((category_id, currency), [0, Decimal(0), 0, Decimal(0)])
                row[offset], row[offset + 1] = count, Decimal(total)
    return {key: tuple(value) for key, value in result.items()}


def stats_stored() -> dict[tuple[int, str], tuple[int, Decimal, int, Decimal]]:
    """Return every stored aggregate that is not all zero."""
    rows = CategoryPriceStat.objects.exclude(subtree_count=0, own_count=0).values_list(
        "category_id", "currency", "subtree_count", "subtree_sum", "own_count", "own_sum"
    )
    return {(row[0], row[1]): tuple(row[2:]) for row in rows}


def stats_replace(recomputed: dict[tuple[int, str], tuple]) -> None:
    """Replace every stored aggregate with recomputed values."""
    CategoryPriceStat.objects.all().delete()
    CategoryPriceStat.objects.bulk_create(
        [
            CategoryPriceStat(
                category_id=category_id,
                currency=currency,
                subtree_count=values[0],
                subtree_sum=values[1],
                own_count=values[2],
                own_sum=values[3],
            )
            for (category_id, currency), values in recomputed.items()
        ],
        batch_size=5000,
    )


def products_in_subtree(category: Category) -> Iterable[int]:
    """Return the ids of products linked to the category or any descendant."""
    return list(
        Product.objects.filter(
            categories__tree_id=category.tree_id,
            categories__lft__gte=category.lft,
            categories__rght__lte=category.rght,
        )
        .values_list("id", flat=True)
        .distinct()
    )
