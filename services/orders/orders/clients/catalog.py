"""The catalog service as orders sees it: the current name, price and currency of products.

This module is the only place that knows the catalog's URLs. One bulk ``GET /products/lookup/``
per order, with connect/read timeouts, bounded retries of that idempotent read (exponential
backoff with jitter, urllib3's ``Retry``) and a circuit breaker (pybreaker) that fails fast while
the catalog keeps failing. Whatever the catalog answers is checked before anyone uses it.
"""

import functools
import logging
import re
from collections.abc import Collection
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import pybreaker
import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from rest_framework import status
from urllib3.util.retry import Retry

from ecomms_common.errors import ServiceError
from ecomms_common.http import OutboundSession

logger = logging.getLogger(__name__)

LOOKUP_MAX_IDS = 200
CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
PRICE_RE = re.compile(r"^\d{1,10}(\.\d{1,2})?$")  # what fits OrderItem.unit_price


class CatalogUnavailable(ServiceError):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "catalog_unavailable"
    default_detail = "The catalog cannot be reached right now; no order was placed. Try again."


class CatalogBadResponse(ServiceError):
    status_code = status.HTTP_502_BAD_GATEWAY
    default_code = "catalog_bad_response"
    default_detail = "The catalog answered with something unusable; no order was placed."


@dataclass(frozen=True)
class CatalogProduct:
    id: int
    name: str
    price: Decimal
    currency: str


@dataclass(frozen=True)
class ProductLookup:
    products: dict[int, CatalogProduct]
    missing: frozenset[int]


class CatalogClient:
    def __init__(
        self,
        *,
        base_url: str,
        connect_timeout: float,
        read_timeout: float,
        retries: int,
        backoff_factor: float,
        backoff_jitter: float,
        breaker_fail_max: int,
        breaker_reset_seconds: float,
    ):
        self.base_url = base_url.rstrip("/")
        self.session = OutboundSession(timeout=(connect_timeout, read_timeout))
        # An internal call: no proxy from the environment, no ~/.netrc credentials (and no
        # looking them up on every call).
        self.session.trust_env = False
        retry = Retry(
            total=retries,
            connect=retries,
            read=retries,
            status=retries,
            other=0,
            redirect=0,
            allowed_methods={"GET"},
            status_forcelist={429, 500, 502, 503, 504},
            backoff_factor=backoff_factor,
            backoff_jitter=backoff_jitter,
            backoff_max=2.0,
            respect_retry_after_header=False,  # a long Retry-After would unbound the wait
            raise_on_status=False,  # the last 5xx reaches us and is judged below
        )
        adapter = HTTPAdapter(max_retries=retry)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        # pybreaker holds a lock around each guarded call: calls from the threads of one
        # process run one at a time (gunicorn's default sync workers have one thread each).
        self.breaker = pybreaker.CircuitBreaker(
            fail_max=breaker_fail_max,
            reset_timeout=breaker_reset_seconds,
            name="catalog",
        )

    def products_lookup(self, *, product_ids: Collection[int]) -> ProductLookup:
        """Return the current name, price and currency of each product, and the ids not found."""
        ids = sorted(set(product_ids))
        if not ids or len(ids) > LOOKUP_MAX_IDS:
            raise ValueError(f"look up between 1 and {LOOKUP_MAX_IDS} products at a time")
        try:
            return self.breaker.call(self._lookup, ids)
        except pybreaker.CircuitBreakerError as exc:
            logger.warning("catalog circuit open: %s", exc)
            cause = exc.__context__
            if isinstance(cause, CatalogBadResponse):
                raise CatalogBadResponse(str(cause.detail)) from exc
            raise CatalogUnavailable() from exc

    def _lookup(self, ids: list[int]) -> ProductLookup:
        url = f"{self.base_url}/products/lookup/"
        try:
            # Commas as they are (requests would escape them in a dict): ?ids=10,15,99
            response = self.session.get(url, params=f"ids={','.join(map(str, ids))}")
        except requests.RequestException as exc:
            logger.warning("catalog lookup failed: %r", exc)
            raise CatalogUnavailable() from exc
        if response.status_code >= 500 or response.status_code == 429:
            logger.warning("catalog lookup answered %s", response.status_code)
            raise CatalogUnavailable()
        if response.status_code != 200:
            raise CatalogBadResponse(f"The catalog answered {response.status_code} to a lookup.")
        try:
            body = response.json()
        except ValueError as exc:
            raise CatalogBadResponse("The catalog's lookup answer is not JSON.") from exc
        return _parse_lookup(body, requested=set(ids))


def _parse_lookup(body: Any, *, requested: set[int]) -> ProductLookup:
    if not isinstance(body, dict):
        raise CatalogBadResponse("The catalog's lookup answer is not an object.")
    raw_products, raw_missing = body.get("products"), body.get("missing", [])
    if not isinstance(raw_products, list) or not isinstance(raw_missing, list):
        raise CatalogBadResponse("The catalog's lookup answer lacks products or missing lists.")
    products = {}
    for raw in raw_products:
        product = _parse_product(raw)
        products[product.id] = product
    if not all(_is_id(product_id) for product_id in raw_missing):
        raise CatalogBadResponse("The catalog listed a missing id that is not an id.")
    missing = frozenset(raw_missing)
    if set(products) | missing != requested or set(products) & missing:
        raise CatalogBadResponse("The catalog answered for other products than those asked for.")
    return ProductLookup(products=products, missing=missing)


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _parse_product(raw: Any) -> CatalogProduct:
    if not isinstance(raw, dict) or not _is_id(raw.get("id")):
        raise CatalogBadResponse("The catalog sent a product without a valid id.")
    product_id = raw["id"]
    name, price, currency = raw.get("name"), raw.get("price"), raw.get("currency")
    if not isinstance(name, str) or not name.strip() or len(name) > 255:
        raise CatalogBadResponse(f"The catalog sent product {product_id} with an invalid name.")
    if not isinstance(price, str) or not PRICE_RE.match(price):
        raise CatalogBadResponse(f"The catalog sent product {product_id} with an invalid price.")
    if not isinstance(currency, str) or not CURRENCY_RE.match(currency):
        raise CatalogBadResponse(f"The catalog sent product {product_id} with an invalid currency.")
    try:
        amount = Decimal(price)
    except InvalidOperation as exc:  # pragma: no cover - PRICE_RE admits only decimals
        raise CatalogBadResponse(f"Product {product_id} has an invalid price.") from exc
    return CatalogProduct(id=product_id, name=name, price=amount, currency=currency)


@functools.cache
def _client(**options: Any) -> CatalogClient:
    return CatalogClient(**options)


def catalog_client() -> CatalogClient:
    """Return the process-wide client for the configured catalog (one breaker per process)."""
    return _client(
        base_url=settings.CATALOG_URL,
        connect_timeout=settings.CATALOG_CONNECT_TIMEOUT_SECONDS,
        read_timeout=settings.CATALOG_READ_TIMEOUT_SECONDS,
        retries=settings.CATALOG_RETRIES,
        backoff_factor=settings.CATALOG_BACKOFF_FACTOR,
        backoff_jitter=settings.CATALOG_BACKOFF_JITTER,
        breaker_fail_max=settings.CATALOG_BREAKER_FAIL_MAX,
        breaker_reset_seconds=settings.CATALOG_BREAKER_RESET_SECONDS,
    )


def reset_catalog_client() -> None:
    """Forget the cached client, its connections and its breaker state."""
    _client.cache_clear()
