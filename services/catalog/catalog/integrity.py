"""Check the category tree, the price aggregates and the browse index against a recomputation."""

from dataclasses import dataclass, field

from django.db import transaction

from catalog.aggregates import stats_replace, stats_stored
from catalog.locks import catalog_lock
from catalog.models import Category
from catalog.storage.listing import listing_differences, listing_replace
from catalog.storage.stats import stats_recompute


@dataclass
class CatalogReport:
    tree_problems: list[str] = field(default_factory=list)
    aggregate_problems: list[str] = field(default_factory=list)
    listing_problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.tree_problems or self.aggregate_problems or self.listing_problems)


def tree_problems() -> list[str]:
    """Return what is wrong with the nested-set fields, judged against the parent links."""
    rows = Category.objects.order_by().values_list(
        "id", "parent_id", "tree_id", "lft", "rght", "level"
    )
    nodes = {row[0]: row for row in rows}
    problems = []
    trees: dict[int, list] = {}
    for category_id, parent_id, tree_id, lft, rght, level in nodes.values():
        trees.setdefault(tree_id, []).append((lft, rght, category_id))
        if lft >= rght:
            problems.append(f"category {category_id}: lft {lft} is not below rght {rght}")
        if parent_id is None:
            if level != 0:
                problems.append(f"category {category_id}: a root at level {level}")
            continue
        parent = nodes[parent_id]
        if parent[2] != tree_id:
            problems.append(f"category {category_id}: in tree {tree_id}, its parent in {parent[2]}")
        elif not parent[3] < lft < rght < parent[4]:
            problems.append(f"category {category_id}: outside its parent's lft/rght range")
        if level != parent[5] + 1:
            problems.append(f"category {category_id}: level {level}, parent's {parent[5]}")
    for tree_id, bounds in trees.items():
        roots = [n for n in nodes.values() if n[2] == tree_id and n[1] is None]
        if len(roots) != 1:
            problems.append(f"tree {tree_id}: {len(roots)} roots")
        numbers = sorted(value for lft, rght, _ in bounds for value in (lft, rght))
        if numbers != list(range(1, 2 * len(bounds) + 1)):
            problems.append(f"tree {tree_id}: lft/rght are not exactly 1..{2 * len(bounds)}")
    return problems


def catalog_check(*, fix: bool = False) -> CatalogReport:
    """Compare tree, aggregates and browse index with a recomputation; with fix, rebuild what
    differs."""
    with transaction.atomic():
        catalog_lock()
        report = CatalogReport(tree_problems=tree_problems())
        if report.tree_problems and fix:
            Category.objects.rebuild()
        recomputed = stats_recompute()
        stored = stats_stored()
        for key in sorted(set(recomputed) | set(stored)):
            if recomputed.get(key) != stored.get(key):
                report.aggregate_problems.append(
                    f"category {key[0]} {key[1]}: stored {stored.get(key)}, "
                    f"recomputed {recomputed.get(key)}"
                )
        if report.aggregate_problems and fix:
            stats_replace(recomputed)
        report.listing_problems = listing_problems()
        if report.listing_problems and fix:
            listing_replace()
    return report


def listing_problems(*, shown: int = 20) -> list[str]:
    """Return how the browse index differs from a recomputation (up to ``shown`` rows each way)."""
    return [
        f"category {category_id}: product {product_id} at {cents} cents "
        + ("missing from the browse index" if missing else "in the browse index, not the tree")
        for category_id, product_id, cents, missing in listing_differences(limit=shown)
    ]
