"""``GET /categories/{slug}/average_price/``: the catalog's hottest read, and its fast path.

The read is one indexed lookup of the maintained aggregates (catalog.selectors). Through Django's
middleware, URL resolver and response classes it costs about twice the lookup, so
:class:`AveragePriceFastPath` answers the plain successful read ahead of them, at the WSGI layer.
Everything else goes to :func:`average_price`, the Django view, which also owns every error.

The fast path is one of catalog.api.fast_reads's (:data:`AVERAGE_PRICE`, served by config/wsgi.py
beside the product reads'). It fails closed: it answers nothing, and Django answers every read,
when ``CATALOG_AVERAGE_PRICE_FAST_PATH`` is off or when ``MIDDLEWARE`` is not exactly
:data:`VERIFIED_MIDDLEWARE`, the list it was checked against.
"""

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from prometheus_client import Histogram
from rest_framework.fields import BooleanField

from catalog import selectors
from catalog.api.caching import cached_read
from catalog.api.fast_reads import VERIFIED_MIDDLEWARE, FastPath, FastReads, FastRoute, Read
from catalog.validation import clean_currency
from ecomms_common.errors import INVALID_MESSAGE, error_response

__all__ = ["VERIFIED_MIDDLEWARE", "AveragePriceFastPath", "average_price"]

logger = logging.getLogger(__name__)

PATH_PREFIX, PATH_SUFFIX = "/categories/", "/average_price/"
ANSWERED = Histogram(
    "catalog_average_price_fast_path_seconds",
    "Time to answer the average_price reads answered ahead of Django (the others, errors "
    "included, are counted by Django's django_http_* metrics).",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1),
)


def average_price_query(params: Mapping[str, str]) -> tuple[str, bool, dict[str, list[str]]]:
    """Return the currency and include_descendants a query asks for, and its errors by field."""
    errors = {}
    currency = params.get("currency", settings.CATALOG_DEFAULT_CURRENCY)
    try:
        currency = clean_currency(currency)
    except ValueError as exc:
        errors["currency"] = [str(exc)]
    include = params.get("include_descendants")
    include_descendants = True
    if include is not None:
        include = include.lower()  # DRF's boolean spellings, in any case, as its BooleanField
        if include in BooleanField.FALSE_VALUES:
            include_descendants = False
        elif include not in BooleanField.TRUE_VALUES:
            errors["include_descendants"] = ["Must be a valid boolean."]
    return currency, include_descendants, errors


def average_price_payload(result: selectors.AveragePrice) -> dict[str, Any]:
    """Return the spec's response body for one answer."""
    average = result.average_price
    return {
        "category": result.category,
        "average_price": float(average) if average is not None else None,
        "currency": result.currency,
        "product_count": result.product_count,
        "include_descendants": result.include_descendants,
    }


def average_price(request: HttpRequest, slug: str) -> JsonResponse:
    """Answer ``GET /categories/{slug}/average_price/`` (the reads the fast path passes on).

    A plain Django view rather than a DRF one: DRF's request wrapping, negotiation and rendering
    cost about a third of this read's CPU time, for a public GET with one answer shape. Errors
    keep the common JSON shape; the OpenAPI description is in catalog.api.schema.
    """
    if request.method not in ("GET", "HEAD"):
        response = error_response(
            405, "method_not_allowed", f'Method "{request.method}" not allowed.'
        )
        response["Allow"] = "GET, HEAD"
        return response
    currency, include_descendants, errors = average_price_query(request.GET)
    if errors:
        return error_response(400, "invalid", INVALID_MESSAGE, **errors)
    result = selectors.category_average_price(
        slug=slug, currency=currency, include_descendants=include_descendants
    )
    if result is None:
        return error_response(404, "not_found", f"No category has the slug {slug!r}.")
    return cached_read(request, JsonResponse(average_price_payload(result)))


def _average_price_answer(read: Read) -> tuple[bytes, list] | None:
    """Return the body of a successful read (see :func:`average_price`), or None."""
    currency, include_descendants, errors = average_price_query(read.params)
    if errors:
        return None
    result = selectors.category_average_price(
        slug=read.argument, currency=currency, include_descendants=include_descendants
    )
    if result is None:
        return None
    return json.dumps(average_price_payload(result)).encode(), []


def _slug_of(path: str) -> str | None:
    if not (path.startswith(PATH_PREFIX) and path.endswith(PATH_SUFFIX)):
        return None
    slug = path[len(PATH_PREFIX) : -len(PATH_SUFFIX)]
    if not slug or not slug.isascii() or "/" in slug:
        return None
    return slug


AVERAGE_PRICE = FastPath(
    setting="CATALOG_AVERAGE_PRICE_FAST_PATH",
    logger=logger,
    description="average_price",
    routes=(
        FastRoute(
            route="categories/<category_slug:slug>/average_price/",
            match=_slug_of,
            answer=_average_price_answer,
            observe=ANSWERED.observe,
        ),
    ),
)


class AveragePriceFastPath(FastReads):
    """:class:`catalog.api.fast_reads.FastReads` answering the average_price reads alone.

    For ``GET`` or ``HEAD`` of an existing category with valid parameters, it runs the same
    selector as the view and answers as Django would; anything else (an unknown slug, a
    parameter the view would refuse, and whatever FastReads passes on) goes to
    :func:`average_price`. It passes every read on, having said why once, when
    ``CATALOG_AVERAGE_PRICE_FAST_PATH`` is off or ``MIDDLEWARE`` differs from
    :data:`VERIFIED_MIDDLEWARE`.
    """

    def __init__(self, application: Callable) -> None:
        super().__init__(application, [AVERAGE_PRICE])
