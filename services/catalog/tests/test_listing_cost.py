"""A page of a category costs the database the same few pages whatever the category's size.

Timing is the benchmarks' business (make bench-10m); this counts what PostgreSQL reads for the
page's statement, ``EXPLAIN (ANALYZE, BUFFERS)`` of the very SQL and parameters the listing
sends: a category of three products whose products are the catalog's oldest (the last ones a
walk of the products newest first would reach) and the root of every product, at two catalog
sizes. A plan that scanned the products or the subtree's rows would read more pages the more
products there are; the browse index reads a few index ranges and the page's products.
"""

from decimal import Decimal

import pytest
from catalog import selectors, services
from catalog.models import Category
from catalog.storage import listing
from catalog.storage.listing import Order
from catalog.validation import validate_upload
from django.db import connection

from tests.conftest import SUBTREE_PRODUCTS_SQL, product

pytestmark = pytest.mark.django_db

PAGE = 2  # the tiny category's three products make two pages
# Index descents, the page's products and their category slugs (about 10-35 pages measured)
MOST_PAGES = 60
ORDERS = {"newest": Order(False, True), "price": Order(True, False), "-price": Order(True, True)}


def _upload(count: int, start: int, paths: list[list[str]]) -> None:
    for first in range(start, start + count, 5000):
        items = [
            product(
                name=f"P{number}",
                price=f"{1 + number % 997}.{number % 100:02d}",
                sku=f"COST-{number}",
                paths=[paths[number % len(paths)]],
            )
            for number in range(first, min(first + 5000, start + count))
        ]
        services.products_upload(
            products=validate_upload({"products": items}, max_products=5000, default_currency="USD")
        )


def _pages_read(sql: str, params: list) -> int:
    """Return the shared buffers (hit or read) the statement touches when it runs."""
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0][0]["Plan"]
    return plan["Shared Hit Blocks"] + plan["Shared Read Blocks"]


def _page_costs(monkeypatch, category_id: int) -> dict[str, int]:
    """Return the pages read by the first page and the page after it, in each order."""
    sent: list[tuple[str, list]] = []
    real = listing.read_rows

    def recorded(sql, params, **kwargs):
        sent.append((sql, list(params)))
        return real(sql, params, **kwargs)

    monkeypatch.setattr(listing, "read_rows", recorded)
    costs = {}
    for name, order in ORDERS.items():
        first, more = selectors.product_page(
            category_id=category_id, order=order, after=None, backwards=False, size=PAGE
        )
        assert more  # a second page to read
        last = first[-1]
        after = (Decimal(last[3]), last[0])
        second, _ = selectors.product_page(
            category_id=category_id, order=order, after=after, backwards=False, size=PAGE
        )
        assert second and second[0][0] != last[0]
        costs[f"{name} first"] = _pages_read(*sent[-2])
        costs[f"{name} second"] = _pages_read(*sent[-1])
    monkeypatch.undo()
    return costs


def _tree_filter_cost(category: Category) -> int:
    """Pages read by the first page newest first through a filter on the tree instead (the
    query the browse index replaced): it walks the products newest first until the subtree's."""
    return _pages_read(
        f"{SUBTREE_PRODUCTS_SQL} ORDER BY p.id DESC LIMIT %s",
        [category.tree_id, category.lft, category.rght, PAGE + 1],
    )


def _analyzed() -> None:
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # as autovacuum leaves the tables soon after a load


def test_a_page_reads_as_few_pages_for_three_products_as_for_the_root(monkeypatch):
    _upload(3, 0, [["All", "Tiny"]])  # the oldest products: last, newest first
    big = [["All", "Big", f"Leaf {number}"] for number in range(40)]
    _upload(2_000, 10_000, big)
    _analyzed()
    tiny, root = (Category.objects.get(name=name) for name in ("Tiny", "All"))
    before = {"tiny": _page_costs(monkeypatch, tiny.id), "root": _page_costs(monkeypatch, root.id)}
    control_before = _tree_filter_cost(tiny)

    _upload(38_000, 20_000, big)  # twenty times the products
    _analyzed()
    after = {"tiny": _page_costs(monkeypatch, tiny.id), "root": _page_costs(monkeypatch, root.id)}

    for category, costs in after.items():
        for page, cost in costs.items():
            # an index may have grown a level: a page or two more per index read, no more
            assert cost <= before[category][page] + 8, (category, page, before, after)
            assert cost <= MOST_PAGES, (category, page, after)
    # what a page costs when it depends on the catalog's size, for scale
    control_after = _tree_filter_cost(tiny)
    assert control_after > 10 * control_before
    assert control_after > 10 * MOST_PAGES
