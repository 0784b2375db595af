from decimal import Decimal

import pytest
from catalog.models import Category, Product, ProductCategory
from catalog.storage.constraints import foreign_keys_checked_meanwhile
from django.db import IntegrityError, connection, transaction

pytestmark = pytest.mark.django_db(transaction=True)


def link(product_id: int, category_id: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {ProductCategory._meta.db_table} (product_id, category_id) "  # noqa: S608
            "VALUES (%s, %s)",
            [product_id, category_id],
        )


@pytest.fixture
def bread() -> tuple[Product, Category]:
    category = Category.objects.create(name="Bakery", slug="bakery")
    product = Product.objects.create(name="Bread", price=Decimal("3.99"), currency="USD")
    return product, category


def test_a_dangling_link_fails_when_the_block_ends_and_nothing_is_kept(bread):
    product, category = bread
    computed, after = [], []
    with pytest.raises(IntegrityError, match="category_id"), transaction.atomic():
        link(product.pk, category.pk + 1000)  # deferred: the statement itself passes
        with foreign_keys_checked_meanwhile():
            computed.append(sum(range(1000)))
        after.append("not at the block's end but at COMMIT")
    assert computed == [499500]  # the block ran while the server checked
    assert after == []
    assert not ProductCategory.objects.exists()


def test_after_the_block_the_transaction_checks_each_statement(bread):
    product, category = bread
    with transaction.atomic():
        link(product.pk, category.pk)
        with foreign_keys_checked_meanwhile():
            pass
        with pytest.raises(IntegrityError), transaction.atomic():
            link(product.pk + 1000, category.pk)  # refused at the statement, not at COMMIT
    assert list(ProductCategory.objects.values_list("product_id", "category_id")) == [
        (product.pk, category.pk)
    ]
