import random

import pytest
from catalog.aggregates import stats_deltas


def random_forest(rng: random.Random, size: int) -> dict[int, int | None]:
    """Return {category id: parent id}: a few trees, some of them deep."""
    parents: dict[int, int | None] = {}
    for category_id in range(1, size + 1):
        parents[category_id] = None if category_id <= 3 else rng.randint(1, category_id - 1)
    return parents


def lineage(category_id: int, parents: dict[int, int | None]) -> list[int]:
    found = []
    node: int | None = category_id
    while node is not None:
        found.append(node)
        node = parents[node]
    return found


def deltas_by_definition(memberships, sign: int, parents) -> list[tuple]:
    """Each product counted once in every category whose subtree holds one of its categories."""
    totals: dict[tuple[int, str], list[int]] = {}
    for currency, cents, categories in memberships:
        covered = {node for category_id in categories for node in lineage(category_id, parents)}
        for node in covered:
            entry = totals.setdefault((node, currency), [0, 0, 0, 0])
            entry[0] += sign
            entry[1] += sign * cents
        for category_id in categories:
            entry = totals.setdefault((category_id, currency), [0, 0, 0, 0])
            entry[2] += sign
            entry[3] += sign * cents
    return sorted((key[0], key[1], *values) for key, values in totals.items() if any(values))


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("sign", [1, -1])
def test_deltas_count_each_product_once_per_category_of_the_union_of_its_lineages(seed, sign):
    rng = random.Random(seed)
    parents = random_forest(rng, size=rng.choice([5, 40, 300]))
    categories = list(parents)
    memberships = []
    for _ in range(500):
        held = set(rng.sample(categories, rng.choice([1, 1, 1, 2, 3, 4])))
        if rng.random() < 0.2:  # a category beside one of its own ancestors
            held.add(rng.choice(lineage(next(iter(held)), parents)))
        memberships.append((rng.choice(["USD", "USD", "EUR"]), rng.randint(1, 99_999), held))

    assert stats_deltas(memberships=memberships, sign=sign, parents=parents) == (
        deltas_by_definition(memberships, sign, parents)
    )


def test_a_product_in_two_sibling_categories_counts_once_at_their_parent():
    parents = {1: None, 2: 1, 3: 1, 4: None}

    assert stats_deltas(memberships=[("USD", 500, {2, 3})], sign=1, parents=parents) == [
        (1, "USD", 1, 500, 0, 0),
        (2, "USD", 1, 500, 1, 500),
        (3, "USD", 1, 500, 1, 500),
    ]
    assert stats_deltas(memberships=[("EUR", 250, {3, 4})], sign=-1, parents=parents) == [
        (1, "EUR", -1, -250, 0, 0),
        (3, "EUR", -1, -250, -1, -250),
        (4, "EUR", -1, -250, -1, -250),
    ]
