"""A product's detail and a page of products, answered ahead of Django (catalog.api.fast_reads).

``GET /products/{id}/`` and ``GET /products/`` (first pages and cursor pages, every sort) run
the same selectors as :class:`catalog.api.views.ProductDetailView` and
:class:`catalog.api.views.ProductListView`, turn the rows into the same JSON with DRF's own
renderer, and add the headers those views add (``Allow``). A read those views would refuse or
find nothing for (an unknown id or category, a bad sort, page size or cursor), one with a query
parameter they do not read, an ``Authorization`` header or an ``Accept`` header other than JSON's
goes to Django, which answers it. ``CATALOG_PRODUCT_FAST_PATH`` switches both off.
"""

import logging

from prometheus_client import Histogram
from rest_framework.renderers import JSONRenderer

from catalog import selectors
from catalog.api.fast_reads import FastPath, FastRoute, Read
from catalog.api.pagination import page_links, page_request
from catalog.api.serializers import product_representation

logger = logging.getLogger(__name__)

LIST_PATH = "/products/"
# Allow as the views send it: the list's APIView, the detail's operations_path (GET and DELETE)
LIST_ALLOW = "GET, HEAD, OPTIONS"
DETAIL_ALLOW = "GET, DELETE, HEAD, OPTIONS"
LIST_PARAMETERS = frozenset(("category", "sort", "cursor", "page_size"))
_BIGINT_MAX = 2**63 - 1
RENDERER = JSONRenderer()
ANSWERED = Histogram(
    "catalog_product_fast_path_seconds",
    "Time to answer the product reads answered ahead of Django, by read (detail, list); the "
    "others, errors included, are counted by Django's django_http_* metrics.",
    ["read"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1),
)


def _product_id_of(path: str) -> str | None:
    """Return the id a product's path names (as Django's int converter reads it), or None."""
    if not (path.startswith(LIST_PATH) and path.endswith("/")):
        return None
    text = path[len(LIST_PATH) : -1]
    if not (text.isascii() and text.isdigit() and 0 < int(text) <= _BIGINT_MAX):
        return None
    return text


def _list_of(path: str) -> str | None:
    return "" if path == LIST_PATH else None


def product_detail_answer(read: Read) -> tuple[bytes, list[tuple[str, str]]] | None:
    """Return the body of a product's detail (as ProductDetailView), or None for no product."""
    row = selectors.product_detail(product_id=int(read.argument))
    if row is None:
        return None
    return RENDERER.render(product_representation(row)), [("Allow", DETAIL_ALLOW)]


def product_page_answer(read: Read) -> tuple[bytes, list[tuple[str, str]]] | None:
    """Return the body of a page of products (as ProductListView), or None for no category.

    A bad sort, page size or cursor raises the view's own error (the caller passes the read to
    Django, which answers it).
    """
    category_id = None
    if slug := read.params.get("category"):
        if "\x00" in slug:
            return None
        category_id = selectors.category_id_by_slug(slug=slug)
        if category_id is None:
            return None
    page = page_request(read.params)
    rows, more = selectors.product_page(
        category_id=category_id,
        order=page.order,
        after=page.after,
        backwards=page.backwards,
        size=page.size,
    )
    following, previous = page_links(read.request, page, rows, more)
    body = {
        "next": following,
        "previous": previous,
        "results": [product_representation(row) for row in rows],
    }
    return RENDERER.render(body), [("Allow", LIST_ALLOW)]


PRODUCT_READS = FastPath(
    setting="CATALOG_PRODUCT_FAST_PATH",
    logger=logger,
    description="product reads",
    routes=(
        FastRoute(
            route="products/<int:product_id>/",
            match=_product_id_of,
            answer=product_detail_answer,
            observe=ANSWERED.labels(read="detail").observe,
            names=frozenset(),
            negotiated=True,
        ),
        FastRoute(
            route="products/",
            match=_list_of,
            answer=product_page_answer,
            observe=ANSWERED.labels(read="list").observe,
            names=LIST_PARAMETERS,
            negotiated=True,
            max_query=512,
        ),
    ),
)
