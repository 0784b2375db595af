"""The browse index against the tree: random uploads, moves and deletes, then every category."""

import random

import pytest
from catalog import services
from catalog.integrity import catalog_check
from catalog.models import Category, Product
from catalog.storage.listing import EPOCH_BITS
from catalog.validation import validate_upload
from django.db import connection

from tests.conftest import SUBTREE_PRODUCTS_SQL, product

pytestmark = pytest.mark.django_db

NAMES = ["Fruit", "Veg", "Tea", "Bread", "Cheese"]


def _subtree_products(category: Category, sort: str) -> list[int]:
    """Every product of the subtree, in the API's order, by a query over links and the tree."""
    order = {
        "newest": "p.id DESC",
        "price": "p.price, p.id",
        "-price": "p.price DESC, p.id DESC",
    }[sort]
    with connection.cursor() as cursor:
        cursor.execute(
            f"{SUBTREE_PRODUCTS_SQL} ORDER BY {order}",
            [category.tree_id, category.lft, category.rght],
        )
        return [row[0] for row in cursor.fetchall()]


def _walk(api_client, slug: str, sort: str, page_size: int) -> list[int]:
    """Follow next links from the first page; return the product ids seen, in order."""
    page = api_client.get(
        "/products/", {"category": slug, "sort": sort, "page_size": page_size}
    ).json()
    seen = [item["id"] for item in page["results"]]
    while page["next"]:
        page = api_client.get(page["next"]).json()
        seen.extend(item["id"] for item in page["results"])
    return seen


def _upload(rng: random.Random, count: int, skus: list[str]) -> None:
    items = []
    for _ in range(count):
        paths = [
            ["Root", *rng.sample(NAMES, rng.randint(0, 3))] for _ in range(rng.choice([1, 1, 2]))
        ]
        sku = rng.choice(skus) if skus and rng.random() < 0.2 else f"S{rng.randrange(10**9)}"
        items.append(
            product(
                price=f"{rng.choice([1, 2, 5, 9])}.{rng.randint(0, 99):02d}", sku=sku, paths=paths
            )
        )
    unique = list({item["sku"]: item for item in items}.values())
    services.products_upload(
        products=validate_upload({"products": unique}, max_products=1000, default_currency="USD")
    )
    skus.extend(item["sku"] for item in unique)


def _ids_jump_to_epoch(epoch: int) -> None:
    """Have the next products take ids a little below the start of this epoch of product ids
    (catalog.storage.listing.EPOCH_BITS), so that an upload straddles two epochs."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('catalog_product', 'id'), %s)",
            [(epoch << EPOCH_BITS) - 3],
        )


@pytest.mark.parametrize(("seed", "epochs"), [(0, False), (1, False), (2, False), (3, True)])
def test_every_category_lists_exactly_its_subtree_after_random_writes(seed, epochs, api_client):
    rng = random.Random(seed)
    skus: list[str] = []
    for round_number in range(6):
        if epochs:  # pages by price merge the epochs: products of several, some in the same
            _ids_jump_to_epoch(1 + round_number + round_number // 2)
        _upload(rng, rng.randint(5, 30), skus)
        step = rng.random()
        categories = list(Category.objects.all())
        if step < 0.5:
            moving = rng.choice([c for c in categories if c.parent_id is not None])
            targets = [
                c
                for c in categories
                if not (c.tree_id == moving.tree_id and moving.lft <= c.lft <= moving.rght)
                and c.name.lower() not in {k.name.lower() for k in c.get_children()}
                and moving.name.lower() not in {k.name.lower() for k in c.get_children()}
            ]
            target = rng.choice([*targets, None])
            if (
                target is not None
                or not Category.objects.filter(parent=None, name__iexact=moving.name).exists()
            ):
                services.category_move(category=moving, parent=target)
        else:
            doomed = list(Product.objects.order_by("?")[: rng.randint(1, 4)])
            for item in doomed:
                services.product_delete(product=item)

    report = catalog_check()
    assert report.ok, report
    for category in Category.objects.all():
        for sort in ("newest", "price", "-price"):
            expected = _subtree_products(category, sort)
            assert _walk(api_client, category.slug, sort, page_size=7) == expected
