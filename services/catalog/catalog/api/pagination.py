"""Keyset pages of a category's products: ``?sort=``, ``?cursor=`` and ``?page_size=``.

A cursor names the product a page starts after, by the page's sort key (its price and id), and
which way it reads; a page costs one range of one index however deep it is
(catalog.storage.listing).
New products only ever appear before the first page newest first, so following ``next`` neither
repeats nor skips a product while products are added.
"""

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.http import HttpRequest
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.utils.urls import replace_query_param

from catalog.models import PRICE_MAX_DIGITS
from catalog.storage.listing import Order, ProductRecord

SORTS = {
    "newest": Order(by_price=False, descending=True),
    "price": Order(by_price=True, descending=False),
    "-price": Order(by_price=True, descending=True),
}
DEFAULT_SORT = "newest"
PAGE_SIZE, MAX_PAGE_SIZE = 50, 500
INVALID_CURSOR = "Invalid cursor"
_BIGINT_MAX = 2**63 - 1


@dataclass(frozen=True)
class PageRequest:
    sort: str
    size: int
    after: tuple[Decimal, int] | None  # (price, id) of the product the page follows
    backwards: bool

    @property
    def order(self) -> Order:
        return SORTS[self.sort]


def page_request(params: Mapping[str, str]) -> PageRequest:
    """Read sort, page_size and cursor of a query (the last value of each name, as
    ``request.query_params.get``); a bad value is a 400 naming it, a bad cursor a 404."""
    sort = params.get("sort", DEFAULT_SORT)
    if sort not in SORTS:
        raise ValidationError({"sort": [f"One of: {', '.join(SORTS)}."]})
    raw_size = params.get("page_size")
    size = PAGE_SIZE
    if raw_size is not None:
        if not (raw_size.isascii() and raw_size.isdigit() and 0 < int(raw_size) <= MAX_PAGE_SIZE):
            raise ValidationError({"page_size": [f"A whole number from 1 to {MAX_PAGE_SIZE}."]})
        size = int(raw_size)
    cursor = params.get("cursor")
    if cursor is None:
        return PageRequest(sort, size, None, backwards=False)
    after, backwards = _decode(cursor, sort)
    return PageRequest(sort, size, after, backwards)


def _encode(sort: str, row: ProductRecord, backwards: bool) -> str:
    """Return the cursor of the page after (or before) the product of this row."""
    text = f"{sort}|{row[3]}|{row[0]}|{'p' if backwards else 'n'}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode(cursor: str, sort: str) -> tuple[tuple[Decimal, int], bool]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        cursor_sort, price_text, id_text, way = text.split("|")
        price = Decimal(price_text)
        product_id = int(id_text)
    except (ValueError, UnicodeDecodeError, binascii.Error, InvalidOperation):
        raise NotFound(INVALID_CURSOR) from None
    digits = price.as_tuple()
    if (
        cursor_sort != sort
        or way not in ("n", "p")
        or not id_text.isdigit()
        or not 0 < product_id <= _BIGINT_MAX
        or not price.is_finite()
        or price <= 0
        or digits.exponent != -2
        or len(digits.digits) > PRICE_MAX_DIGITS
    ):
        raise NotFound(INVALID_CURSOR)
    return (price, product_id), way == "p"


def page_links(
    request: HttpRequest, page: PageRequest, rows: list[ProductRecord], more: bool
) -> tuple[str | None, str | None]:
    """Return the next and previous links of a page of these products (in display order).

    ``more`` says whether the read found a product beyond the page, in the direction it read.
    """
    if not rows:
        return None, None
    if page.backwards:
        has_next, has_previous = True, more
    else:
        has_next, has_previous = more, page.after is not None
    url = request.build_absolute_uri()
    following = previous = None
    if has_next:
        following = replace_query_param(url, "cursor", _encode(page.sort, rows[-1], False))
    if has_previous:
        previous = replace_query_param(url, "cursor", _encode(page.sort, rows[0], True))
    return following, previous
