"""Access tokens denied before they expire: after a logout, an account disabled, a refresh reused.

Access tokens are short-lived JWTs that nothing records, so denying one takes a list the gateway
checks on every call. It lives in Redis (``RATE_LIMIT_STORE_URL``, the gateway's shared store),
under ``<RATE_LIMIT_KEY_PREFIX>:tokens:``:

- ``issued:<sub>``: the ``jti`` of every access token issued to an account, scored by its ``exp``
  (:func:`access_token_record`, when a pair is issued);
- ``denied``: the denied ``jti``, scored by their ``exp`` (:func:`account_access_deny` moves an
  account's unexpired ``issued`` entries there), and ``version``, counted up on every change.

Every gateway process keeps the denied set in memory (:data:`denied_tokens`) and asks Redis for
``version`` at most every ``TOKEN_DENYLIST_REFRESH_SECONDS`` (0.5 s), reading the set again only
when it changed: a denied token gets 401 at every worker within that time, for the cost of one
small Redis read per worker per interval, not one per call. Entries are dropped once their token
has expired (plus the leeway).

Redis unreachable: denying fails loudly (:class:`RevocationUnavailable`, a 503 to whoever asked
for it, before any refresh token is revoked); checking keeps the last set it read (logged at most
once a minute), so tokens denied meanwhile pass until the store answers or they expire.
"""

import asyncio
import functools
import logging
import threading
import time
from collections.abc import Iterable
from typing import Any

import redis
import redis.asyncio
from django.conf import settings
from prometheus_client import Counter
from rest_framework.exceptions import APIException

logger = logging.getLogger(__name__)

LOG_INTERVAL_SECONDS = 60.0
STORE_ERRORS = Counter(
    "gateway_token_denylist_store_errors_total",
    "Reads of the token denylist that failed (the last list read stays in use).",
)


class RevocationUnavailable(APIException):
    status_code = 503
    default_code = "revocation_unavailable"
    default_detail = "Tokens cannot be revoked right now (the token store is unavailable); retry."


def _key(name: str) -> str:
    return f"{settings.RATE_LIMIT_KEY_PREFIX}:tokens:{name}"


def _client_options() -> dict[str, Any]:
    timeout = settings.RATE_LIMIT_STORE_TIMEOUT_SECONDS
    return {"socket_timeout": timeout, "socket_connect_timeout": timeout}


def _store() -> redis.Redis:
    return _client(settings.RATE_LIMIT_STORE_URL, settings.RATE_LIMIT_STORE_TIMEOUT_SECONDS)


@functools.lru_cache(maxsize=4)
def _client(url: str, timeout: float) -> redis.Redis:
    """One client (and connection pool) per store, shared by this process's threads."""
    return redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)


def access_token_record(*, subject: str, jti: str, expires_at: int) -> None:
    """Remember an access token issued to ``subject`` (so that it can be denied later)."""
    issued = _key(f"issued:{subject}")
    try:
        with _store().pipeline() as pipe:
            pipe.zadd(issued, {jti: expires_at})
            pipe.zremrangebyscore(issued, "-inf", time.time() - settings.JWT_LEEWAY_SECONDS)
            pipe.expireat(issued, expires_at + settings.JWT_LEEWAY_SECONDS)
            pipe.execute()
    except redis.RedisError as error:
        raise RevocationUnavailable() from error


def account_access_deny(*, subject: str) -> int:
    """Deny every unexpired access token issued to ``subject``; return how many."""
    now = time.time()
    leeway = settings.JWT_LEEWAY_SECONDS
    try:
        store = _store()
        issued = store.zrangebyscore(
            _key(f"issued:{subject}"), now - leeway, "+inf", withscores=True
        )
        with store.pipeline() as pipe:
            if issued:
                pipe.zadd(_key("denied"), {jti: expires_at for jti, expires_at in issued})
            pipe.zremrangebyscore(_key("denied"), "-inf", now - leeway)
            pipe.incr(_key("version"))
            pipe.execute()
    except redis.RedisError as error:
        raise RevocationUnavailable() from error
    denied_tokens.forget_version()  # this process sees it on its next check
    return len(issued)


class DeniedTokens:
    """This process's copy of the denied ``jti`` set, read again when Redis says it changed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jtis: frozenset[str] = frozenset()
        self._version: bytes | None = None
        self._next_check = 0.0
        self._next_log = 0.0
        self._async_clients: dict[asyncio.AbstractEventLoop, redis.asyncio.Redis] = {}

    def denied(self, jti: Any) -> bool:
        return jti in self._jtis

    def forget_version(self) -> None:
        self._next_check = 0.0
        self._version = None

    def _due(self) -> bool:
        now = time.monotonic()
        if now < self._next_check:
            return False
        self._next_check = now + settings.TOKEN_DENYLIST_REFRESH_SECONDS
        return True

    def refresh(self) -> None:
        """Bring the copy up to date if it is due (from Django's threads)."""
        if not self._due():
            return
        try:
            store = _store()
            version = store.get(_key("version"))
            if version != self._version:
                members = store.zrangebyscore(_key("denied"), self._oldest(), "+inf")
                self._replace(version, members)
        except redis.RedisError as error:
            self._failed(error)

    async def refresh_async(self) -> None:
        """Bring the copy up to date if it is due (from the edge's event loop)."""
        if not self._due():
            return
        try:
            store = self._async_client()
            version = await store.get(_key("version"))
            if version != self._version:
                members = await store.zrangebyscore(_key("denied"), self._oldest(), "+inf")
                self._replace(version, members)
        except (redis.RedisError, OSError) as error:
            self._failed(error)

    def _oldest(self) -> float:
        return time.time() - settings.JWT_LEEWAY_SECONDS

    def _replace(self, version: bytes | None, members: Iterable[bytes]) -> None:
        with self._lock:
            self._jtis = frozenset(member.decode() for member in members)
            self._version = version

    def _async_client(self) -> redis.asyncio.Redis:
        loop = asyncio.get_running_loop()
        client = self._async_clients.get(loop)
        if client is None:
            client = self._async_clients[loop] = redis.asyncio.Redis.from_url(
                settings.RATE_LIMIT_STORE_URL, **_client_options()
            )
        return client

    def _failed(self, error: Exception) -> None:
        STORE_ERRORS.inc()
        now = time.monotonic()
        if now >= self._next_log:
            self._next_log = now + LOG_INTERVAL_SECONDS
            logger.error("The token denylist could not be read; keeping the last one: %s", error)


denied_tokens = DeniedTokens()
