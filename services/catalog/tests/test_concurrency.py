import threading

import pytest
from catalog.integrity import catalog_check
from catalog.models import Category, Product
from catalog.services import products_upload
from catalog.validation import validate_upload
from django.db import connection

from tests.conftest import product


@pytest.mark.django_db(transaction=True)
def test_racing_uploads_on_overlapping_new_paths_create_each_category_once():
    def batch(offset: int) -> list:
        paths = [
            ["All Products", "Produce", f"Aisle {i % 6}", f"Shelf {(i + offset) % 9}"]
            for i in range(60)
        ]
        items = [product(name=f"P{offset}-{i}", paths=[path]) for i, path in enumerate(paths)]
        return validate_upload({"products": items}, max_products=100, default_currency="USD")

    batches = [batch(offset) for offset in range(4)]
    start = threading.Barrier(len(batches))
    failures = []

    def run(products):
        try:
            start.wait()
            products_upload(products=products)
        except Exception as exc:  # collected and asserted below
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(products,)) for products in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    assert Product.objects.count() == 240
    assert Category.objects.count() == 1 + 1 + 6 + 6 * 9
    names = list(Category.objects.values_list("parent_id", "name"))
    assert len(names) == len(set(names))
    report = catalog_check()
    assert report.ok, (report.tree_problems, report.aggregate_problems)
