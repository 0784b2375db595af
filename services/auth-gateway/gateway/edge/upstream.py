"""Keep-alive connections to the services, one aiohttp pool per event loop (one per worker).

aiohttp's client: its parser is C (llhttp), it reuses pooled connections without a thread per
call, and it streams bodies both ways. Sessions are made lazily in the loop that uses them and
closed at the server's shutdown (:func:`close_sessions`, from the ASGI lifespan).
"""

import asyncio
from functools import cache

import aiohttp
from django.conf import settings

# Longer than this idle, a pooled connection is dropped before the service drops it: the
# services' gunicorn keeps an idle connection 5 seconds.
IDLE_SECONDS = 4.0

_sessions: dict[tuple[asyncio.AbstractEventLoop, int], aiohttp.ClientSession] = {}


def session() -> aiohttp.ClientSession:
    """Return this event loop's client session (``UPSTREAM_POOL_SIZE`` connections per service)."""
    size = settings.UPSTREAM_POOL_SIZE
    key = (asyncio.get_running_loop(), size)
    found = _sessions.get(key)
    if found is None or found.closed:
        connector = aiohttp.TCPConnector(
            limit=0, limit_per_host=size, keepalive_timeout=IDLE_SECONDS, ttl_dns_cache=60
        )
        found = _sessions[key] = aiohttp.ClientSession(
            connector=connector,
            # Nothing a service answers is remembered for the next caller, and bodies pass
            # through still encoded.
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
            # Only what the caller sent goes upstream: no default Accept, Accept-Encoding,
            # User-Agent or Content-Type of aiohttp's.
            skip_auto_headers=("Accept", "Accept-Encoding", "User-Agent", "Content-Type"),
            raise_for_status=False,
        )
    return found


@cache
def timeout(connect: float, read: float) -> aiohttp.ClientTimeout:
    """Return the timeouts of one call: to connect, and between two reads of the answer."""
    return aiohttp.ClientTimeout(total=None, sock_connect=connect, sock_read=read)


async def close_sessions() -> None:
    """Close the pools of the running loop (at shutdown)."""
    loop = asyncio.get_running_loop()
    for key in [key for key in _sessions if key[0] is loop]:
        await _sessions.pop(key).close()
