"""The floor of the gateway benchmark: an ASGI proxy that does nothing but proxy.

The same server and client as the gateway's edge (gunicorn with uvicorn's worker on uvloop and
httptools, aiohttp's pooled keep-alive client), without anything the edge adds to a call: no
request id, limit, token check, forwarding headers, metrics or log line. ``bench/gateway/run.py
--bare-proxy`` measures it beside the gateway and the catalog, sent the same reads: what lies
between it and the gateway is the gateway's own work; what lies between it and the catalog is
what any proxy built this way costs on the machine. Never deployed; GET only.

    BARE_PROXY_UPSTREAM=http://127.0.0.1:8001 gunicorn bench.gateway.bare_proxy:app \\
        --worker-class uvicorn_worker.UvicornWorker
"""

import asyncio
import os
from typing import Any

import aiohttp
from yarl import URL

UPSTREAM = os.environ.get("BARE_PROXY_UPSTREAM", "http://127.0.0.1:8001")
DROPPED = frozenset({b"connection", b"keep-alive", b"transfer-encoding", b"date", b"server"})
_sessions: dict[asyncio.AbstractEventLoop, aiohttp.ClientSession] = {}


def session() -> aiohttp.ClientSession:
    loop = asyncio.get_running_loop()
    if loop not in _sessions:
        _sessions[loop] = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, limit_per_host=32),
            auto_decompress=False,
            skip_auto_headers=("Accept", "Accept-Encoding", "User-Agent"),
        )
    return _sessions[loop]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    target = UPSTREAM + scope["raw_path"].decode("latin-1")
    if scope["query_string"]:
        target += "?" + scope["query_string"].decode("latin-1")
    headers = [
        (name.decode("latin-1"), value.decode("latin-1"))
        for name, value in scope["headers"]
        if name not in DROPPED and name != b"host"
    ]
    async with session().get(URL(target, encoded=True), headers=headers) as answer:
        body = await answer.read()
        returned = [
            (name.lower(), value)
            for name, value in answer.raw_headers
            if name.lower() not in DROPPED
        ]
    await send({"type": "http.response.start", "status": answer.status, "headers": returned})
    await send({"type": "http.response.body", "body": body})
