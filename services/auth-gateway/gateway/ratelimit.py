"""Per-client rate limits kept in Redis, holding across workers and replicas: 429, Retry-After.

The counting is the ``limits`` library's moving window over Redis: every admitted call is one
timestamp in a list per key, and a Lua script checks and appends atomically, so a limit of N per
minute lets at most N calls through in any 60 seconds, however many processes share the Redis.
The timestamps come from each gateway's clock: replicas whose clocks disagree by d seconds can
let a few more through near a window's edge, never more than those d seconds' worth.

Leases (proxied calls): asking Redis on every call would cost a round trip per call, about a
quarter of the edge's CPU. So an edge worker takes a key's permits from Redis :func:`lease_size`
at a time (N // 100, at least 1, at most 1,000: one call in every L asks Redis) and spends them
locally, each within the window it was recorded in. Permits a worker holds unspent are the
margin: with P worker processes sharing the store, a limit of N lets through at most
N + P * (L - 1) calls in any window (for the default 300/m, L = 3: two per worker), and a
client whose calls are spread over workers may be refused up to P * (L - 1) calls early. When
the window has room for fewer than L, a single permit is taken, so the last ones are not lost.
Limits under 200 per window (L = 1) ask Redis on every call and have no margin.

Which limits, keyed how (:func:`limits_for`):

- ``RATE_LIMIT`` (default 300/m) on every path but the probes, per client: ``sub:<subject>`` of a
  valid bearer token, else ``ip:<address>``.
- ``AUTH_RATE_LIMIT`` (default 30/m) on the login and token paths (:data:`AUTH_PATHS`), per
  address, ``auth-ip:<address>``, in addition to the general one.

The address is :func:`gateway.clients.client_address` (forwarded headers believed only from
``TRUSTED_PROXY_NETWORKS``). An IPv6 client is counted by its /64: one host usually holds a
whole /64 and could otherwise take a fresh address for every call.

Redis unreachable or slow (``RATE_LIMIT_STORE_TIMEOUT_SECONDS``, default 50 ms, no retries):
calls are let through unchecked (fail open), the error is logged at most once a minute, and
``gateway_rate_limit_store_errors_total`` counts every call let through so; after a failure the
store is not asked again for ``RATE_LIMIT_STORE_RETRY_SECONDS`` (default 1), so an outage costs
no latency. Open rather than 503 because the limit protects capacity, not identity: tokens are
still verified and the login is the provider's, while a 503 would turn a Redis outage into a
full outage of the API. Readiness does not depend on Redis for the same reason.

For callers, sync and async:

- :func:`rate_limit_refusal` (Django request -> 429 response or None), used by the middleware
  below, on the gateway's own paths.
- ``await`` :func:`limit_refusal` ``(key=, rate=)`` -> :class:`Refusal` or None, for servers
  without a Django request; take the keys and rates from :func:`limits_for`.
- :class:`Refusal`: ``limit``, the rate that was exceeded as configured (e.g. ``"300/m"``), and
  ``retry_after_seconds``, whole seconds (at least 1) until the client may call again. Render
  it with :func:`refusal_response`, or send :func:`refusal_document` as the JSON body with
  status 429 and ``Retry-After: <retry_after_seconds>``, which is what that function does.
"""

import asyncio
import functools
import ipaddress
import logging
import math
import re
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import limits
import limits.aio.storage
import limits.aio.strategies
import limits.errors
import limits.storage
import limits.strategies
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import Counter
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.retry import Retry

from ecomms_common.auth import InvalidToken
from ecomms_common.errors import error_response
from gateway.clients import client_address, trusted_networks
from gateway.identity.authentication import bearer_claims

logger = logging.getLogger(__name__)

EXEMPT_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
AUTH_PATHS = frozenset(
    {
        "/oidc/authenticate/",
        "/oidc/callback/",
        "/auth/token/",
        "/auth/token/refresh/",
        "/auth/logout/",
    }
)
LOG_INTERVAL_SECONDS = 60.0
# A worker leases a key's permits 1/LEASE_FRACTION of the limit at a time, at most LEASE_MAX, and
# holds leases for the LEASE_KEYS keys it used last.
LEASE_FRACTION = 100
LEASE_MAX = 1000
LEASE_KEYS = 10_000

STORE_ERRORS = Counter(
    "gateway_rate_limit_store_errors_total",
    "Calls let through without a rate-limit check because the limit store (Redis) failed.",
)


@dataclass(frozen=True)
class Refusal:
    """A call over its limit: the rate as configured and whole seconds until the next may pass."""

    limit: str
    retry_after_seconds: int


def limits_for(*, path: str, subject: str | None, address: str) -> list[tuple[str, str]]:
    """Return the (key, rate) pairs a call to ``path`` counts against, the general one first."""
    if path in EXEMPT_PATHS:
        return []
    counted_address = _address_key(address)
    client = f"sub:{subject}" if subject is not None else f"ip:{counted_address}"
    checks = [(client, settings.RATE_LIMIT)]
    if path in AUTH_PATHS:
        checks.append((f"auth-ip:{counted_address}", settings.AUTH_RATE_LIMIT))
    return checks


def rate_limit_refusal(request: HttpRequest) -> HttpResponse | None:
    """Count the call against its client's budgets; return a 429 once one is spent."""
    for key, rate in limits_for(
        path=request.path, subject=_subject(request), address=request_client_address(request)
    ):
        refusal = _sync_refusal(key=key, rate=rate)
        if refusal is not None:
            return refusal_response(refusal)
    return None


async def limit_refusal(*, key: str, rate: str) -> Refusal | None:
    """Count one call against ``key``'s budget of ``rate``; return a Refusal once it is spent.

    Spends a permit this worker leased earlier when it holds one; else leases more from Redis.
    """
    if not settings.RATELIMIT_ENABLE:
        return None
    url, prefix = settings.RATE_LIMIT_STORE_URL, settings.RATE_LIMIT_KEY_PREFIX
    leases, leased = _leases(), (url, prefix, rate, key)
    lease = leases.get(leased)
    if lease is not None and lease.spend():
        return None
    store = _store_health(url)
    if store.resting():
        return None
    item = parse_rate(rate)
    if lease is None:
        lease = leases.add(leased)
    async with lease.lock:
        if lease.spend():  # leased by a concurrent call meanwhile
            return None
        limiter = _async_limiter(url, prefix)
        size = lease_size(item)
        try:
            for cost in (size, 1) if size > 1 else (1,):
                taken_at = time.monotonic()
                if await limiter.hit(item, key, cost=cost):
                    lease.fill(cost - 1, until=taken_at + item.get_expiry())
                    return None
            stats = await limiter.get_window_stats(item, key)
        except limits.errors.StorageError as error:
            store.failed(error)
            return None
    return Refusal(limit=rate, retry_after_seconds=_seconds_until(stats.reset_time))


def lease_size(item: limits.RateLimitItem) -> int:
    """Return how many permits of ``item`` a worker takes from Redis at once (see the top)."""
    return max(1, min(LEASE_MAX, item.amount // LEASE_FRACTION))


class _Lease:
    """Permits of one key this worker took from Redis and has not spent, and until when."""

    __slots__ = ("lock", "permits", "until")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.permits = 0
        self.until = 0.0

    def spend(self) -> bool:
        if self.permits > 0 and time.monotonic() < self.until:
            self.permits -= 1
            return True
        return False

    def fill(self, permits: int, *, until: float) -> None:
        # A permit counts in the window from the moment Redis recorded it: spent after that
        # window it would pass a call no window counts. ``until`` is taken before the call.
        self.permits, self.until = permits, until


class _Leases:
    """The leases of one event loop, the most recently used ``LEASE_KEYS`` keys (a key pushed
    out loses its unspent permits: its client may be refused up to L - 1 calls early)."""

    def __init__(self) -> None:
        self.by_key: OrderedDict[tuple[str, ...], _Lease] = OrderedDict()

    def get(self, key: tuple[str, ...]) -> _Lease | None:
        lease = self.by_key.get(key)
        if lease is not None:
            self.by_key.move_to_end(key)
        return lease

    def add(self, key: tuple[str, ...]) -> _Lease:
        lease = self.by_key[key] = _Lease()
        if len(self.by_key) > LEASE_KEYS:
            self.by_key.popitem(last=False)
        return lease


# Leases live with their event loop, like the connections of _async_limiter.
_loop_leases: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _leases() -> _Leases:
    loop = asyncio.get_running_loop()
    leases = _loop_leases.get(loop)
    if leases is None:
        leases = _loop_leases[loop] = _Leases()
    return leases


def refusal_document(refusal: Refusal) -> dict[str, Any]:
    """Return the JSON body of a 429 for ``refusal``, in the shared error format."""
    return {
        "error": {
            "code": "rate_limited",
            "message": "Too many requests; slow down.",
            "details": {
                "limit": refusal.limit,
                "retry_after_seconds": refusal.retry_after_seconds,
            },
        }
    }


def refusal_response(refusal: Refusal) -> HttpResponse:
    """Return the 429 answer to ``refusal``: the JSON error and a ``Retry-After`` header."""
    document = refusal_document(refusal)["error"]
    response = error_response(429, document["code"], document["message"], **document["details"])
    response["Retry-After"] = str(refusal.retry_after_seconds)
    return response


def request_client_address(request: HttpRequest) -> str:
    """Return the address of the client of a Django request (see gateway.clients)."""
    return client_address(
        request.META.get("REMOTE_ADDR", ""),
        request.headers,
        _trusted(tuple(settings.TRUSTED_PROXY_NETWORKS)),
    )


_UNITS = {"s": "second", "m": "minute", "h": "hour", "d": "day"}
_SHORT_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([smhd])\s*$")


@functools.lru_cache(maxsize=64)
def parse_rate(rate: str) -> limits.RateLimitItem:
    """Return the limit written ``N/s|m|h|d`` (also ``N/10s``) or in ``limits``' own words."""
    short = _SHORT_RATE.match(rate)
    if short:
        amount, multiples, unit = short.groups()
        return limits.parse(f"{amount}/{multiples or 1} {_UNITS[unit]}")
    return limits.parse(rate)


class RateLimitMiddleware:
    """The limits on the gateway's own paths (proxied calls are counted by gateway.edge)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return rate_limit_refusal(request) or self.get_response(request)


def _subject(request: HttpRequest) -> str | None:
    try:
        claims = bearer_claims(request)
    except InvalidToken:
        return None
    return None if claims is None else str(claims["sub"])


@functools.lru_cache(maxsize=4096)
def _address_key(address: str) -> str:
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if parsed.version == 6:
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)


@functools.lru_cache(maxsize=8)
def _trusted(values: tuple[str, ...]) -> tuple:
    return trusted_networks(values)


def _sync_refusal(*, key: str, rate: str) -> Refusal | None:
    store = _store_health(settings.RATE_LIMIT_STORE_URL)
    if not settings.RATELIMIT_ENABLE or store.resting():
        return None
    item = parse_rate(rate)
    limiter = _sync_limiter(settings.RATE_LIMIT_STORE_URL, settings.RATE_LIMIT_KEY_PREFIX)
    try:
        if limiter.hit(item, key):
            return None
        stats = limiter.get_window_stats(item, key)
    except limits.errors.StorageError as error:
        store.failed(error)
        return None
    return Refusal(limit=rate, retry_after_seconds=_seconds_until(stats.reset_time))


def _seconds_until(moment: float) -> int:
    return max(1, math.ceil(moment - time.time()))


def _client_options() -> dict[str, Any]:
    timeout = settings.RATE_LIMIT_STORE_TIMEOUT_SECONDS
    return {"socket_timeout": timeout, "socket_connect_timeout": timeout}


@functools.lru_cache(maxsize=4)
def _sync_limiter(url: str, prefix: str) -> limits.strategies.MovingWindowRateLimiter:
    storage = limits.storage.RedisStorage(
        url,
        key_prefix=prefix,
        wrap_exceptions=True,
        retry=Retry(NoBackoff(), 0),
        **_client_options(),
    )
    return limits.strategies.MovingWindowRateLimiter(storage)


# A redis.asyncio connection belongs to the event loop that opened it: one limiter per loop.
_async_limiters: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _async_limiter(url: str, prefix: str) -> limits.aio.strategies.MovingWindowRateLimiter:
    per_loop = _async_limiters.setdefault(asyncio.get_running_loop(), {})
    if (url, prefix) not in per_loop:
        storage = limits.aio.storage.RedisStorage(
            f"async+{url}",
            implementation="redispy",
            key_prefix=prefix,
            wrap_exceptions=True,
            retry=AsyncRetry(NoBackoff(), 0),
            **_client_options(),
        )
        per_loop[(url, prefix)] = limits.aio.strategies.MovingWindowRateLimiter(storage)
    return per_loop[(url, prefix)]


class _StoreHealth:
    """Remember a failure of the store: rest from it for a while, log it at most once a minute."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rest_until = 0.0
        self._next_log = 0.0

    def resting(self) -> bool:
        if time.monotonic() < self._rest_until:
            STORE_ERRORS.inc()
            return True
        return False

    def failed(self, error: Exception) -> None:
        STORE_ERRORS.inc()
        now = time.monotonic()
        with self._lock:
            self._rest_until = now + settings.RATE_LIMIT_STORE_RETRY_SECONDS
            if now < self._next_log:
                return
            self._next_log = now + LOG_INTERVAL_SECONDS
        logger.error("Rate-limit store failed; letting calls through unchecked: %s", error)


@functools.lru_cache(maxsize=4)
def _store_health(url: str) -> _StoreHealth:
    return _StoreHealth()
