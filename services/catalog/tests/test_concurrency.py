import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

import psycopg
import pytest
from catalog.integrity import catalog_check
from catalog.locks import CATALOG_LOCK_KEY
from catalog.models import Category, Product
from catalog.services import products_upload
from catalog.validation import validate_upload
from django.db import connection

from tests.conftest import other_session, product


def validated(items: list[dict]) -> list:
    return validate_upload({"products": items}, max_products=100, default_currency="USD")


def upload_items(items: list[dict]):
    return products_upload(products=validated(items))


@pytest.mark.django_db(transaction=True)
def test_racing_uploads_on_overlapping_new_paths_create_each_category_once():
    def batch(offset: int) -> list:
        paths = [
            ["All Products", "Produce", f"Aisle {i % 6}", f"Shelf {(i + offset) % 9}"]
            for i in range(60)
        ]
        return validated(
            [product(name=f"P{offset}-{i}", paths=[path]) for i, path in enumerate(paths)]
        )

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


def _upload_in_thread(items: list[dict]) -> tuple[threading.Thread, dict]:
    """Start products_upload of these items on a connection of its own; return it and its result."""
    products = validated(items)
    outcome: dict = {}

    def run():
        try:
            outcome["result"] = products_upload(products=products)
        except Exception as exc:  # asserted by the caller
            outcome["error"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


@contextmanager
def another_upload_under_way() -> Iterator[psycopg.Connection]:
    """Hold the catalog lock shared in a transaction of another session, as an upload of new
    products does; the caller commits it."""
    with other_session() as session:
        session.execute("BEGIN")
        session.execute("SELECT pg_advisory_xact_lock_shared(%s)", [CATALOG_LOCK_KEY])
        yield session


def _wait_until_a_backend_waits_on(session, lock_type: str) -> None:
    for _ in range(200):
        waiting = session.execute(
            "SELECT count(*) FROM pg_locks WHERE NOT granted AND locktype = %s", [lock_type]
        ).fetchone()[0]
        if waiting:
            return
        time.sleep(0.05)
    raise AssertionError(f"no backend came to wait on a {lock_type} lock")


@pytest.mark.django_db(transaction=True)
def test_uploads_of_new_products_run_beside_one_another_and_the_rest_waits():
    upload_items([product(name="Bread", sku="B-1", paths=[["Food", "Bakery"]])])
    # another upload of new products under existing categories, mid-way
    with another_upload_under_way() as holder:
        beside, beside_outcome = _upload_in_thread(
            [product(name="Rye", sku="B-2", paths=[["Food", "Bakery"]])]
        )
        beside.join(timeout=30)
        assert not beside.is_alive(), "an upload of new products waited for another one"
        assert beside_outcome["result"].created_ids
        waiting = [
            _upload_in_thread([product(name="Milk", sku="D-1", paths=[["Food", "Dairy"]])]),
            _upload_in_thread([product(name="Bread", sku="B-1", price="4.25")]),
        ]
        _wait_until_a_backend_waits_on(holder, "advisory")
        time.sleep(0.5)
        assert all(thread.is_alive() for thread, _ in waiting), (
            "a new category or an update did not wait for the lock to be free"
        )
        holder.execute("COMMIT")
        for thread, _ in waiting:
            thread.join(timeout=30)
    (_, created), (_, updated) = waiting
    assert created["result"].categories_created == 1
    assert updated["result"].updated_ids == [Product.objects.get(sku="B-1").pk]
    assert Product.objects.get(sku="B-1").price == Decimal("4.25")
    report = catalog_check()
    assert report.ok, (report.tree_problems, report.aggregate_problems)


@pytest.mark.django_db(transaction=True)
def test_a_new_sku_another_upload_commits_meanwhile_is_updated_not_duplicated():
    upload_items([product(name="Bread", sku="B-1", paths=[["Food", "Bakery"]])])
    # a rival upload has inserted sku B-2 and not committed yet: this one cannot see it
    with another_upload_under_way() as rival:
        rival.execute(
            f"INSERT INTO {Product._meta.db_table} (name, description, price, currency, sku, "  # noqa: S608
            "created_at, updated_at) VALUES ('Rye', '', 5.00, 'USD', 'B-2', now(), now())"
        )
        thread, outcome = _upload_in_thread(
            [product(name="Rye Loaf", sku="B-2", price="6.50", paths=[["Food", "Bakery"]])]
        )
        _wait_until_a_backend_waits_on(rival, "transactionid")  # on the sku's unique index
        rival.execute("COMMIT")
        thread.join(timeout=30)
    assert "error" not in outcome, outcome
    rye = Product.objects.get(sku="B-2")
    assert outcome["result"].created_ids == []
    assert outcome["result"].updated_ids == [rye.pk]
    assert (rye.name, rye.price) == ("Rye Loaf", Decimal("6.50"))
    assert Product.objects.count() == 2
    report = catalog_check()
    assert report.ok, (report.tree_problems, report.aggregate_problems)
