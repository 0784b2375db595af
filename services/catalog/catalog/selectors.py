"""Reads of the catalog. None of them scans products to answer a price question."""

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import QuerySet
from django.db.models.functions import Lower

from catalog.models import Category, Product
from catalog.storage import listing
from catalog.storage.listing import Order, ProductRecord
from catalog.storage.reads import category_price_stat

CENT = Decimal("0.01")


@dataclass(frozen=True)
class AveragePrice:
    category: str
    currency: str
    include_descendants: bool
    product_count: int
    average_price: Decimal | None


def category_average_price(
    *, slug: str, currency: str, include_descendants: bool = True
) -> AveragePrice | None:
    """Return the mean price of the distinct products of one currency, or None for no category.

    One indexed lookup of the maintained aggregates (see catalog.aggregates), in one query
    (catalog.storage.reads).
    """
    stat = category_price_stat(
        slug=slug, currency=currency, include_descendants=include_descendants
    )
    if stat is None:
        return None
    count, total = stat
    average = None
    if count:
        average = (Decimal(total) / count).quantize(CENT, ROUND_HALF_UP)
    return AveragePrice(slug, currency, include_descendants, count, average)


def product_page(
    *,
    category_id: int | None,
    order: Order,
    after: tuple[Decimal, int] | None,
    backwards: bool,
    size: int,
) -> tuple[list[ProductRecord], bool]:
    """Return a page of a subtree's products (each once; the whole catalog for no category)
    in display order, and whether there are more beyond it in the direction read.

    ``after`` is the (price, id) the page starts after; ``backwards`` reads the page before it.
    """
    rows = listing.product_page(
        category_id=category_id, order=order, after=after, backwards=backwards, size=size + 1
    )
    more = len(rows) > size
    del rows[size:]
    if backwards:
        rows.reverse()
    return rows, more


def product_detail(*, product_id: int) -> ProductRecord | None:
    """Return one product with its category slugs, or None."""
    return listing.product_record(product_id)


def category_id_by_slug(*, slug: str) -> int | None:
    """Return the id of the category with this slug, or None."""
    return listing.category_id(slug)


def product_lookup(*, ids: list[int]) -> tuple[list[Product], list[int]]:
    """Return the products with these ids (in the order asked) and the ids that do not exist."""
    found = {
        product.pk: product
        for product in Product.objects.filter(pk__in=ids).only("id", "name", "price", "currency")
    }
    return [found[pk] for pk in ids if pk in found], [pk for pk in ids if pk not in found]


def category_top_levels(*, depth: int) -> list[dict]:
    """Return the trees' first ``depth`` levels, nested, siblings by name.

    Each node: ``{"name", "slug", "level", "descendant_count", "children": [...]}``; the nodes
    of the last level have their children left out (``descendant_count`` says whether any).
    """
    nodes: dict[int, dict] = {}
    roots: list[dict] = []
    rows = (
        Category.objects.filter(level__lt=depth)
        .order_by("tree_id", "lft")
        .values_list("id", "parent_id", "name", "slug", "level", "lft", "rght")
    )
    for category_id, parent_id, name, slug, level, lft, rght in rows:
        node = {
            "name": name,
            "slug": slug,
            "level": level,
            "descendant_count": (rght - lft - 1) // 2,
            "children": [],
        }
        nodes[category_id] = node
        (nodes[parent_id]["children"] if parent_id else roots).append(node)

    def order(siblings: list[dict]) -> list[dict]:
        siblings.sort(key=lambda node: node["name"].lower())
        for node in siblings:
            order(node["children"])
        return siblings

    return order(roots)


def category_children(*, category_id: int) -> QuerySet[Category]:
    """Return the children of a category, each with ``name_key`` (unique among siblings) to be
    ordered and paged by."""
    return Category.objects.filter(parent_id=category_id).annotate(name_key=Lower("name"))


def category_export(*, after_id: int, size: int) -> tuple[Iterator[tuple], int | None]:
    """Return up to ``size`` categories after ``after_id`` in id order, streamed from the
    database as (id, name, slug, parent slug, level), and the id to continue after (None at the
    end)."""
    ids = Category.objects.filter(id__gt=after_id).order_by("id").values_list("id", flat=True)
    last_id = ids[size - 1 : size].first()
    more = last_id is not None and ids.filter(id__gt=last_id).exists()
    rows = Category.objects.filter(id__gt=after_id).order_by("id")
    if last_id is not None:
        rows = rows.filter(id__lte=last_id)
    stream = rows.values_list("id", "name", "slug", "parent__slug", "level").iterator(
        chunk_size=2000
    )
    return stream, last_id if more else None
