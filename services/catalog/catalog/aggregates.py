"""Per-category, per-currency price aggregates, kept exact with every write.

A product contributes (+1, +price) to every category whose subtree holds at least one of its
categories, once, however many of them it is in. Writers apply (:func:`stats_apply_memberships`,
through catalog.services) ``sign=-1``
for the products they are about to change (while the database still shows the old state) and with
``sign=+1`` once the change is written: the difference is exact, whatever changed (price, currency,
categories, or the tree above them). All writers hold the catalog lock (catalog.locks), so the
tree cannot change under them.

This module computes; the SQL that reads and writes the aggregates is in catalog.storage.stats.
Maintenance walks parent links in memory (a few thousand categories);
:func:`catalog.storage.stats.stats_recompute` uses the nested-set ranges in SQL instead, so
check_catalog compares two independent computations.
"""

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from decimal import Decimal

from catalog.models import Category, CategoryPriceStat, Product
from catalog.storage.stats import stats_add

# What a product contributes: its currency, its price in cents and the ids of its categories.
Membership = tuple[str, int, Collection[int]]
# Every category's parent (None for a root).
Parents = Mapping[int, int | None]


def category_parents() -> dict[int, int | None]:
    """Return {category id: parent id} for the whole tree."""
    return dict(Category.objects.order_by().values_list("id", "parent_id"))


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

    A product adds to the subtree aggregate of each ancestor of its categories once. It is
    recorded at its categories only, and taken away again where the lineage of one of them
    reaches that of another; one bottom-up pass over the touched part of the tree then sums each
    subtree. Adding every product at every ancestor took twice as long for 10,000 products.
    """
    assert sign in (1, -1)
    # currency -> {category id: [n, cents]}: what the products hold in the category itself, and
    # the corrections where their lineages meet
    own: dict[str, dict[int, list[int]]] = {}
    meets: dict[str, dict[int, list[int]]] = {}
    for currency, cents, categories in memberships:
        cents *= sign
        held = own.get(currency)
        if held is None:
            held = own[currency] = {}
            meets[currency] = {}
        for category_id in categories:
            _add(held, category_id, sign, cents)
        if len(categories) == 1:
            continue
        # The lineages reached so far are closed upwards: a climb that meets one at a node
        # shares everything from there up, so it is counted up to there and no further.
        reached: set[int] = set()
        corrections = meets[currency]
        for category_id in categories:
            ancestor: int | None = category_id
            while ancestor is not None and ancestor not in reached:
                reached.add(ancestor)
                ancestor = parents[ancestor]
            if ancestor is not None:
                _add(corrections, ancestor, sign, cents)
    depths: dict[int, int] = {}
    rows = []
    for currency, held in own.items():
        subtree = {category_id: entry.copy() for category_id, entry in held.items()}
        for category_id, (n, cents) in meets[currency].items():
            _add(subtree, category_id, -n, -cents)
        by_depth: dict[int, list[int]] = defaultdict(list)
        for category_id in subtree:
            by_depth[_depth(category_id, parents, depths)].append(category_id)
        for depth in range(max(by_depth, default=0), 0, -1):
            for category_id in by_depth[depth]:
                n, cents = subtree[category_id]
                parent_id = parents[category_id]
                entry = subtree.get(parent_id)
                if entry is None:
                    subtree[parent_id] = [n, cents]
                    by_depth[depth - 1].append(parent_id)
                else:
                    entry[0] += n
                    entry[1] += cents
        for category_id, (n, cents) in subtree.items():
            own_n, own_cents = held.get(category_id, (0, 0))
            if n or cents or own_n or own_cents:
                rows.append((category_id, currency, n, cents, own_n, own_cents))
    rows.sort()
    return rows


def _add(totals: dict[int, list[int]], category_id: int, n: int, cents: int) -> None:
    entry = totals.get(category_id)
    if entry is None:
        totals[category_id] = [n, cents]
    else:
        entry[0] += n
        entry[1] += cents


def _depth(category_id: int, parents: Parents, depths: dict[int, int]) -> int:
    """Return the category's distance from its root, remembering it for the whole lineage."""
    lineage = []
    node: int | None = category_id
    while node is not None and node not in depths:
        lineage.append(node)
        node = parents[node]
    depth = -1 if node is None else depths[node]
    for node in reversed(lineage):
        depth += 1
        depths[node] = depth
    return depths[category_id]


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
