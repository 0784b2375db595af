"""Every write to the catalog: category paths, product upload, deletion and tree moves.

Each runs in one transaction behind the catalog lock (catalog.locks), resolves paths with the
tree planner (catalog.tree), writes through the ORM or catalog.storage, and keeps the price
aggregates (catalog.aggregates) and the browse index (catalog.listing) exact in the same
transaction.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone
from mptt.exceptions import InvalidMove

from catalog.aggregates import (
    Parents,
    category_parents,
    products_in_subtree,
    stats_apply_memberships,
    stats_deltas,
)
from catalog.listing import listing_apply, listing_lines
from catalog.locks import ExclusiveLockNeeded, catalog_lock
from catalog.models import Category, Product
from catalog.storage.constraints import foreign_keys_checked_meanwhile
from catalog.storage.listing import listing_insert
from catalog.storage.products import (
    ProductRow,
    links_replace,
    product_ids_by_sku,
    products_insert,
    products_update,
)
from catalog.storage.stats import product_memberships, stats_add
from catalog.tree import category_paths_ensure, name_key
from catalog.validation import CategoryPath, ProductInput
from ecomms_common.errors import ServiceError, sqlstate

UNIQUE_VIOLATION = "23505"


class CategoryMoveInvalid(ServiceError):
    status_code = 400
    default_code = "invalid_move"
    default_detail = "A category cannot move under itself or one of its descendants."


def category_create(*, path: CategoryPath) -> tuple[Category, bool]:
    """Create the missing nodes of a path; return the leaf and whether anything was created."""
    with transaction.atomic():
        catalog_lock()
        ensured = category_paths_ensure(paths=[path])
        return Category.objects.get(pk=ensured.leaves[path]), ensured.created > 0


@dataclass(frozen=True)
class UploadResult:
    created_ids: list[int]
    updated_ids: list[int]
    categories_created: int


def products_upload(*, products: Sequence[ProductInput]) -> UploadResult:
    """Create or update (by sku) every product and link it to the leaf of each of its paths.

    The upload first holds the catalog lock shared, so that uploads of new products under
    existing categories run side by side (on two cores, two clients uploading 10,000 products
    a request got 13,000-18,700 products/s, by whether one worker process or two served them,
    against 10,500 for one client). If it finds a category to create or a sku that exists, it
    rolls back, before writing anything, and runs again holding the lock exclusively; so it does
    when another shared upload has committed one of its new skus meanwhile (a unique violation).
    """
    try:
        return _products_upload(products=products, shared=True)
    except ExclusiveLockNeeded:
        pass
    except IntegrityError as exc:
        if sqlstate(exc) != UNIQUE_VIOLATION:
            raise
    return _products_upload(products=products, shared=False)


def _products_upload(*, products: Sequence[ProductInput], shared: bool) -> UploadResult:
    with transaction.atomic():
        catalog_lock(shared=shared)
        paths = dict.fromkeys(path for product in products for path in product.category_paths)
        ensured = category_paths_ensure(paths=list(paths), create=not shared)
        leaves = [{ensured.leaves[path] for path in p.category_paths} for p in products]
        existing = product_ids_by_sku([p.sku for p in products if p.sku is not None])
        if existing and shared:
            raise ExclusiveLockNeeded  # an update subtracts what the product held: alone
        updated_ids = [existing[product.sku] for product in products if product.sku in existing]
        _contributions_apply(product_ids=updated_ids, sign=-1, parents=ensured.parents)

        now = timezone.now()
        rows = [
            ProductRow(
                existing.get(product.sku),
                product.name,
                product.description,
                product.price,
                product.currency,
                product.sku,
            )
            for product in products
        ]
        products_update([row for row in rows if row.id is not None], now=now)
        created_ids = iter(products_insert([row for row in rows if row.id is None], now=now))
        product_ids = [row.id if row.id is not None else next(created_ids) for row in rows]
        links_replace(
            updated_ids,
            (
                (product_id, category_id)
                for product_id, categories in zip(product_ids, leaves, strict=True)
                for category_id in categories
            ),
        )
        created = [pk for pk, row in zip(product_ids, rows, strict=True) if row.id is None]
        # the new state is known here: no need to read it back
        with foreign_keys_checked_meanwhile():
            # sent in the same pipeline: the server writes the browse index while the
            # aggregates' deltas are computed here
            listing_insert(
                listing_lines(
                    products=(
                        (product_id, product.price_cents, categories)
                        for product_id, product, categories in zip(
                            product_ids, products, leaves, strict=True
                        )
                    ),
                    parents=ensured.parents,
                )
            )
            deltas = stats_deltas(
                memberships=[
                    (product.currency, product.price_cents, categories)
                    for product, categories in zip(products, leaves, strict=True)
                ],
                sign=1,
                parents=ensured.parents,
            )
        # Last: the aggregates' rows are the ones every upload updates, locked from here to the
        # commit; written before the browse index, they held concurrent uploads waiting for it
        stats_add(deltas)
    return UploadResult(created, updated_ids, ensured.created)


def _contributions_apply(
    *, product_ids: Sequence[int], sign: int, parents: Parents | None = None
) -> None:
    """Add (sign=+1) or remove (sign=-1) what the products hold, as stored, in the aggregates
    and the browse index; ``parents`` is the tree as it is now (read when not given)."""
    if not product_ids:
        return
    if parents is None:
        parents = category_parents()
    memberships = product_memberships(product_ids)
    stats_apply_memberships(memberships=memberships.values(), sign=sign, parents=parents)
    listing_apply(
        products=(
            (product_id, cents, categories)
            for product_id, (_, cents, categories) in memberships.items()
        ),
        sign=sign,
        parents=parents,
    )


def product_delete(*, product: Product) -> None:
    """Delete a product; the aggregates lose what it contributed."""
    with transaction.atomic():
        catalog_lock()
        _contributions_apply(product_ids=[product.pk], sign=-1)
        product.delete()


def category_move(*, category: Category, parent: Category | None) -> Category:
    """Move a category (and its subtree) under another parent, or make it a root."""
    with transaction.atomic():
        catalog_lock()
        category = Category.objects.get(pk=category.pk)  # fresh lft/rght, under the lock
        if parent is not None:
            parent = Category.objects.get(pk=parent.pk)
        if category.parent_id == (parent.pk if parent else None):
            return category
        siblings = Category.objects.filter(parent=parent).exclude(pk=category.pk)
        sibling_keys = {name_key(name) for name in siblings.values_list("name", flat=True)}
        if name_key(category.name) in sibling_keys:
            raise CategoryMoveInvalid(
                f"The new parent already has a child named {category.name!r}."
            )
        affected = list(products_in_subtree(category))
        _contributions_apply(product_ids=affected, sign=-1)
        try:
            category.move_to(parent, "last-child")
        except InvalidMove as exc:
            raise CategoryMoveInvalid() from exc
        _contributions_apply(product_ids=affected, sign=1)
        return Category.objects.get(pk=category.pk)
