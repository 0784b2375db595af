"""Per-category, per-currency price aggregates, kept exact with every write.

A product contributes (+1, +price) to every category whose subtree holds at least one of its
categories, once, however many of them it is in. Writers call :func:`stats_apply` with ``sign=-1``
for the products they are about to change (while the database still shows the old state) and with
``sign=+1`` once the change is written: the difference is exact, whatever changed (price, currency,
categories, or the tree above them). All writers hold the catalog lock (catalog.services), so the
tree cannot change under them.

Maintenance walks parent links in memory (a few thousand categories); :func:`stats_recompute`
uses the nested-set ranges in SQL instead, so check_catalog compares two independent computations.
"""

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from decimal import Decimal

from django.db import connection

from catalog.bulk import stats_add
from catalog.models import Category, CategoryPriceStat, Product

CHUNK = 2000

# What a product contributes: its currency, its price in cents and the ids of its categories.
Membership = tuple[str, int, Collection[int]]
# Every category's parent (None for a root).
Parents = Mapping[int, int | None]

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


def category_parents() -> dict[int, int | None]:
    """Return {category id: parent id} for the whole tree."""
    return dict(Category.objects.order_by().values_list("id", "parent_id"))


def _product_memberships(product_ids: Sequence[int]) -> dict[int, tuple[str, int, set[int]]]:
    tables = _tables()
    memberships: dict[int, tuple[str, int, set[int]]] = {}
    select = (
        "SELECT p.id, p.currency, (p.price * 100)::bigint, pc.category_id "  # noqa: S608 - table names only
        f"FROM {tables['product']} p JOIN {tables['links']} pc ON pc.product_id = p.id "
    )
    # One array parameter on PostgreSQL; chunks of placeholders elsewhere.
    chunk_size = len(product_ids) if connection.vendor == "postgresql" else CHUNK
    with connection.cursor() as cursor:
        for start in range(0, len(product_ids), chunk_size):
            chunk = list(product_ids[start : start + chunk_size])
            if connection.vendor == "postgresql":
                cursor.execute(select + "WHERE p.id = ANY(%s)", [chunk])
            else:
                cursor.execute(select + f"WHERE p.id IN ({', '.join(['%s'] * len(chunk))})", chunk)
            for product_id, currency, cents, category_id in cursor.fetchall():
                entry = memberships.setdefault(product_id, (currency, int(cents), set()))
                entry[2].add(category_id)
    return memberships


def stats_apply(*, product_ids: Sequence[int], sign: int, parents: Parents | None = None) -> None:
    """Add (sign=+1) or remove (sign=-1) the products' stored contribution to every aggregate."""
    if product_ids:
        stats_apply_memberships(
            memberships=_product_memberships(product_ids).values(), sign=sign, parents=parents
        )


def stats_apply_memberships(
    *, memberships: Iterable[Membership], sign: int, parents: Parents | None = None
) -> None:
    """Add or remove the contribution of products given as (currency, cents, category ids).

    ``parents`` is the tree as it is when the products hold these categories (read from the
    database when not given).
    """
    if parents is None:
        parents = category_parents()
    stats_add(stats_deltas(memberships=memberships, sign=sign, parents=parents))


def stats_deltas(
    *, memberships: Iterable[Membership], sign: int, parents: Parents
) -> list[tuple[int, str, int, int, int, int]]:
    """Return what the products change, as (category, currency, subtree n, subtree cents, own n,
    own cents) rows in (category, currency) order, without writing them.
    """
    assert sign in (1, -1)
    # Products with the same categories and currency move the same aggregates: add them up
    # first (most products are in one category, which needs no set). Sums are in whole cents.
    singles: dict[tuple[int, str], list[int]] = {}
    shared: dict[tuple[frozenset[int], str], list[int]] = {}
    for currency, cents, categories in memberships:
        if len(categories) == 1:
            (category_id,) = categories
            key: tuple = (category_id, currency)
            group = singles.get(key)
            if group is None:
                singles[key] = [sign, sign * cents]
                continue
        else:
            key = (frozenset(categories), currency)
            group = shared.get(key)
            if group is None:
                shared[key] = [sign, sign * cents]
                continue
        group[0] += sign
        group[1] += sign * cents
    # (category id, currency) -> [subtree n, subtree cents, own n, own cents]
    deltas: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for (category_id, currency), (n, cents) in singles.items():
        own = deltas[(category_id, currency)]
        own[2] += n
        own[3] += cents
        ancestor: int | None = category_id
        while ancestor is not None:
            delta = deltas[(ancestor, currency)]
            delta[0] += n
            delta[1] += cents
            ancestor = parents[ancestor]
    for (categories, currency), (n, cents) in shared.items():
        # Each category of the union of the lineages once: a climb stops where another began.
        reached: set[int] = set()
        for category_id in categories:
            own = deltas[(category_id, currency)]
            own[2] += n
            own[3] += cents
            ancestor = category_id
            while ancestor is not None and ancestor not in reached:
                reached.add(ancestor)
                delta = deltas[(ancestor, currency)]
                delta[0] += n
                delta[1] += cents
                ancestor = parents[ancestor]
    return [
        (category_id, currency, *delta)
        for (category_id, currency), delta in sorted(deltas.items())
        if any(delta)
    ]


def stats_recompute() -> dict[tuple[int, str], tuple[int, Decimal, int, Decimal]]:
    """Return all aggregates computed from scratch.

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
