"""Reads of the catalog. None of them scans products to answer a price question."""

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Exists, OuterRef, QuerySet

from catalog.models import Category, Product
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


def product_list(*, category: Category | None = None) -> QuerySet[Product]:
    """Return products, optionally only those in a category's subtree (each product once)."""
    products = Product.objects.all()
    if category is not None:
        links = Product.categories.through.objects.filter(
            product_id=OuterRef("pk"),
            category__tree_id=category.tree_id,
            category__lft__gte=category.lft,
            category__rght__lte=category.rght,
        )
        products = products.filter(Exists(links))
    return products.prefetch_related("categories")


def product_lookup(*, ids: list[int]) -> tuple[list[Product], list[int]]:
    """Return the products with these ids (in the order asked) and the ids that do not exist."""
    found = {
        product.pk: product
        for product in Product.objects.filter(pk__in=ids).only("id", "name", "price", "currency")
    }
    return [found[pk] for pk in ids if pk in found], [pk for pk in ids if pk not in found]


def category_tree() -> list[dict]:
    """Return every tree as nested ``{"name", "slug", "children": [...]}``, siblings by name."""
    nodes: dict[int, dict] = {}
    roots: list[dict] = []
    rows = Category.objects.order_by("tree_id", "lft").values_list(
        "id", "parent_id", "name", "slug", "level"
    )
    for category_id, parent_id, name, slug, level in rows:
        node = {"name": name, "slug": slug, "level": level, "children": []}
        nodes[category_id] = node
        (nodes[parent_id]["children"] if parent_id else roots).append(node)

    def order(siblings: list[dict]) -> list[dict]:
        siblings.sort(key=lambda node: node["name"].lower())
        for node in siblings:
            order(node["children"])
        return siblings

    return order(roots)
