"""The catalog service as orders sees it: the current name, price and currency of products.

This module is the only place that knows the catalog's URLs. One bulk ``GET /products/lookup/``
per order, with connect/read timeouts, bounded retries of that idempotent read (exponential
backoff with jitter), one deadline for the whole lookup retries included, and a circuit breaker
that fails fast while the catalog keeps failing. Whatever the catalog answers is checked before
anyone uses it.

The deadline is what keeps an order's answer inside the gateway's upstream read timeout
(``UPSTREAM_READ_TIMEOUT_SECONDS``, 15 s) while the catalog stalls: every lookup gives up by
then, and lookups of concurrent requests run side by side (the breaker's lock guards its state,
never the call), so none waits behind another's timeouts.
"""

import functools
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import requests
from django.conf import settings
from rest_framework import status
from urllib3.util import Timeout

from ecomms_common.errors import ServiceError
from ecomms_common.http import OutboundSession

logger = logging.getLogger(__name__)

LOOKUP_MAX_IDS = 200
CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
PRICE_RE = re.compile(r"^\d{1,10}(\.\d{1,2})?$")  # what fits OrderItem.unit_price
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
BACKOFF_MAX_SECONDS = 2.0
# A retry that would have less than this left of the deadline is not sent.
MIN_ATTEMPT_SECONDS = 0.1


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


class CircuitOpen(Exception):
    """The breaker is open: the call was not made."""


class CircuitBreaker:
    """Open after ``fail_max`` failed calls in a row; fail fast for ``reset_seconds``; then let
    one trial call through, which closes it again or keeps it open for another period. A call
    that comes while the trial runs waits for its outcome, at most ``trial_wait_seconds``: it
    goes ahead if the trial closed the breaker, else fails fast (a catalog that is back answers
    the trial in milliseconds, and the orders that arrived with it need not get a 503).

    The lock guards the counters only, never the guarded call, so calls of concurrent threads
    run side by side (pybreaker holds its lock around the call, which made the lookups of one
    process's threads wait for each other).
    """

    def __init__(
        self,
        *,
        fail_max: int,
        reset_seconds: float,
        trial_wait_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.fail_max = fail_max
        self.reset_seconds = reset_seconds
        self.trial_wait_seconds = trial_wait_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._trial_ended = threading.Condition(self._lock)
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_running = False

    def call(self, func: Callable[[], Any]) -> Any:
        """Return ``func()``; an exception counts as a failure. Raise ``CircuitOpen`` while open."""
        self._before_call()
        try:
            result = func()
        except Exception:
            self._failed()
            raise
        self._succeeded()
        return result

    def _before_call(self) -> None:
        with self._lock:
            if self._opened_at is None:
                return
            if self._trial_running:
                self._trial_ended.wait_for(
                    lambda: not self._trial_running, timeout=self.trial_wait_seconds
                )
                if self._opened_at is None:  # the trial closed it
                    return
                raise CircuitOpen()
            if self._clock() - self._opened_at < self.reset_seconds:
                raise CircuitOpen()
            self._trial_running = True  # this call is the trial; the others wait for it

    def _failed(self) -> None:
        with self._lock:
            self._failures += 1
            trial, self._trial_running = self._trial_running, False
            if trial or (self._opened_at is None and self._failures >= self.fail_max):
                self._opened_at = self._clock()
                logger.warning("catalog circuit opened after %d failures", self._failures)
            if trial:
                self._trial_ended.notify_all()

    def _succeeded(self) -> None:
        with self._lock:
            if self._opened_at is not None:
                logger.info("catalog circuit closed again")
            trial = self._trial_running
            self._failures, self._opened_at, self._trial_running = 0, None, False
            if trial:
                self._trial_ended.notify_all()


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
        deadline_seconds: float,
        breaker_fail_max: int,
        breaker_reset_seconds: float,
    ):
        self.base_url = base_url.rstrip("/")
        self.connect_timeout, self.read_timeout = connect_timeout, read_timeout
        self.retries = retries
        self.backoff_factor, self.backoff_jitter = backoff_factor, backoff_jitter
        self.deadline_seconds = deadline_seconds
        self.session = OutboundSession(timeout=(connect_timeout, read_timeout))
        # An internal call: no proxy from the environment, no ~/.netrc credentials (and no
        # looking them up on every call).
        self.session.trust_env = False
        # a call that comes during the breaker's trial waits for it as long as a connection may
        # take to open
        self.breaker = CircuitBreaker(
            fail_max=breaker_fail_max,
            reset_seconds=breaker_reset_seconds,
            trial_wait_seconds=connect_timeout,
        )

    def products_lookup(self, *, product_ids: Collection[int]) -> ProductLookup:
        """Return the current name, price and currency of each product, and the ids not found."""
        ids = sorted(set(product_ids))
        if not ids or len(ids) > LOOKUP_MAX_IDS:
            raise ValueError(f"look up between 1 and {LOOKUP_MAX_IDS} products at a time")
        try:
            return self.breaker.call(lambda: self._lookup(ids))
        except CircuitOpen as exc:
            logger.warning("catalog circuit open: lookup not sent")
            raise CatalogUnavailable() from exc

    def _lookup(self, ids: list[int]) -> ProductLookup:
        """Send the lookup, again after a transient failure, until it succeeds, the retries run
        out or the deadline is near; each attempt's timeouts are cut to what the deadline leaves."""
        url = f"{self.base_url}/products/lookup/"
        # Commas as they are (requests would escape them in a dict): ?ids=10,15,99
        query = f"ids={','.join(map(str, ids))}"
        deadline = time.monotonic() + self.deadline_seconds
        for attempt in range(self.retries + 1):
            if attempt:
                pause = min(
                    self.backoff_factor * 2 ** (attempt - 1), BACKOFF_MAX_SECONDS
                ) + random.uniform(0, self.backoff_jitter)  # noqa: S311 - jitter, not a secret
                if deadline - time.monotonic() - pause < MIN_ATTEMPT_SECONDS:
                    logger.warning("catalog lookup: no time left for retry %d", attempt)
                    break
                time.sleep(pause)
            left = max(deadline - time.monotonic(), 0.001)
            timeout = Timeout(
                connect=min(self.connect_timeout, left),
                read=min(self.read_timeout, left),
                total=left,
            )
            try:
                response = self.session.get(url, params=query, timeout=timeout)
            except (requests.ConnectionError, requests.Timeout) as exc:
                logger.warning("catalog lookup attempt %d failed: %r", attempt + 1, exc)
                continue
            except requests.RequestException as exc:
                logger.warning("catalog lookup failed: %r", exc)
                raise CatalogUnavailable() from exc
            if response.status_code >= 500 or response.status_code == 429:
                logger.warning("catalog lookup attempt %d: %s", attempt + 1, response.status_code)
                if response.status_code in RETRY_STATUSES:
                    continue
                raise CatalogUnavailable()
            return _judge(response, requested=set(ids))
        raise CatalogUnavailable()


def _judge(response: requests.Response, *, requested: set[int]) -> ProductLookup:
    if response.status_code != 200:
        raise CatalogBadResponse(f"The catalog answered {response.status_code} to a lookup.")
    try:
        body = response.json()
    except ValueError as exc:
        raise CatalogBadResponse("The catalog's lookup answer is not JSON.") from exc
    return _parse_lookup(body, requested=requested)


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
        deadline_seconds=settings.CATALOG_DEADLINE_SECONDS,
        breaker_fail_max=settings.CATALOG_BREAKER_FAIL_MAX,
        breaker_reset_seconds=settings.CATALOG_BREAKER_RESET_SECONDS,
    )


def reset_catalog_client() -> None:
    """Forget the cached client, its connections and its breaker state."""
    _client.cache_clear()
