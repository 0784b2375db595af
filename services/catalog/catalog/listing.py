"""The browse index (catalog.models.SubtreeProduct), kept exact with every write.

A product is listed under every category whose subtree holds one of its categories, once. As
with the aggregates (catalog.aggregates), writers call :func:`listing_apply` with ``sign=-1`` for
the products they are about to change, while the database still shows the old state, and with
``sign=+1`` once the change is written, both inside the catalog lock. The rows are computed here
from the parent links in memory; catalog.storage.listing moves them and reads pages.
"""

from collections.abc import Collection, Iterable, Iterator, Mapping

from catalog.storage.listing import listing_insert, listing_remove

Parents = Mapping[int, int | None]
# a product: (id, price in cents, ids of its categories)
Listed = tuple[int, int, Collection[int]]


class Lineages:
    """Each category with its ancestors, remembered per category for one write."""

    def __init__(self, parents: Parents):
        self.parents = parents
        self.known: dict[int, tuple[int, ...]] = {}
        self.known_texts: dict[int, tuple[str, ...]] = {}
        self.known_joined: dict[int, str] = {}

    def of(self, category_id: int) -> tuple[int, ...]:
        lineage = self.known.get(category_id)
        if lineage is None:
            parent_id = self.parents[category_id]
            above = () if parent_id is None else self.of(parent_id)
            lineage = self.known[category_id] = (category_id, *above)
        return lineage

    def texts(self, category_id: int) -> tuple[str, ...]:
        """Return the lineage's ids as decimal text."""
        texts = self.known_texts.get(category_id)
        if texts is None:
            texts = self.known_texts[category_id] = tuple(map(str, self.of(category_id)))
        return texts

    def joined(self, category_id: int) -> str:
        """Return the lineage's ids as decimal text joined by commas."""
        joined = self.known_joined.get(category_id)
        if joined is None:
            joined = self.known_joined[category_id] = ",".join(self.texts(category_id))
        return joined


def listing_lines(*, products: Iterable[Listed], parents: Parents) -> Iterator[str]:
    """Yield, per product in a category, ``"<id> <price in cents> <ancestor ids>"``: what
    :func:`catalog.storage.listing.listing_insert` expands into rows in SQL. A product in
    several categories has their lineages joined, each ancestor once."""
    lineages = Lineages(parents)
    joined = lineages.joined
    for product_id, cents, categories in products:
        if len(categories) == 1:
            for category_id in categories:
                yield f"{product_id} {cents} {joined(category_id)}"
        elif categories:  # a product in no category is listed under none
            ancestors = dict.fromkeys(
                text for category_id in categories for text in lineages.texts(category_id)
            )
            yield f"{product_id} {cents} {','.join(ancestors)}"


def listing_rows(*, products: Iterable[Listed], parents: Parents) -> Iterator[tuple[int, int, int]]:
    """Yield (category id, product id, price in cents) for every row the products need."""
    lineages = Lineages(parents)
    for product_id, cents, categories in products:
        if len(categories) == 1:
            for category_id in categories:
                for ancestor in lineages.of(category_id):
                    yield ancestor, product_id, cents
            continue
        seen = {ancestor for category_id in categories for ancestor in lineages.of(category_id)}
        for ancestor in seen:
            yield ancestor, product_id, cents


def listing_apply(*, products: Iterable[Listed], sign: int, parents: Parents) -> None:
    """Add (sign=+1) or remove (sign=-1) the products' rows of the browse index."""
    assert sign in (1, -1)
    if sign == 1:
        listing_insert(listing_lines(products=products, parents=parents))
    else:
        listing_remove(listing_rows(products=products, parents=parents))
