"""The proxied calls: check the caller, then stream the call to its service and the answer back.

For each call to a path of :data:`gateway.edge.routes.ROUTES`, in order: the request id
(django-guid's rules: a UUID ``X-Request-ID`` is kept, anything else replaced; set in django-guid's
context so log lines carry it), the rate limit (``RATE_LIMIT`` per token subject, else per client
address), the body limit (``PROXY_BODY_MAX_BYTES``), the token check (catalog reads are public;
a bad token is a 401 even there), then the call upstream on a pooled keep-alive connection,
Prometheus metrics of its own, and spans while tracing is on (:mod:`gateway.edge.tracing`).
The ``Authorization`` header goes through unchanged: services verify tokens themselves.
"""

import logging
import tempfile
import time
from collections.abc import AsyncIterator
from functools import lru_cache
from typing import IO, Any

import aiohttp
from django.conf import settings
from django.http.request import split_domain_port, validate_host
from django_guid import set_guid
from django_guid.utils import generate_guid, validate_guid
from prometheus_client import Counter, Histogram
from yarl import URL

from ecomms_common.auth import InvalidToken
from ecomms_common.errors import PayloadTooLarge
from ecomms_common.forwarding import address_in
from ecomms_common.tracing import tracing_enabled
from gateway.clients import IPNetwork, client_address, trusted_networks
from gateway.edge import tracing as edge_tracing
from gateway.edge import upstream as pools
from gateway.edge.deadlines import Receive, RequestTimeout
from gateway.edge.responses import Send, send_json_error
from gateway.edge.routes import Upstream, route
from gateway.forwarding import FORWARDING_HEADERS, forwarded_headers
from gateway.identity.revocation import denied_tokens
from gateway.identity.tokens import access_token_verify
from gateway.ratelimit import limit_refusal, limits_for, refusal_document

logger = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
METHODS = frozenset({"GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"})
# RFC 9110 section 7.6.1: meaningful for one connection only, never forwarded.
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
# Set by the gateway itself (gateway.forwarding, the request id, or the client library for the
# upstream connection); the browser session cookie is the gateway's own and stays here.
NOT_FORWARDED = (
    HOP_BY_HOP
    | {b"host", b"content-length", b"cookie", b"x-request-id"}
    | {name.encode() for name in FORWARDING_HEADERS}
)
# What a trusted proxy may say about the client (gateway.clients reads these).
CLIENT_ADDRESS_HEADERS = (b"x-forwarded-for", b"forwarded", b"x-real-ip")
# The gateway's own server writes these on every response; a second copy would be a duplicate.
# The service echoes the request id; the gateway sends its own (the same id) once.
NOT_RETURNED = HOP_BY_HOP | {b"date", b"server", b"x-request-id"}
# A request body is read whole before the call goes upstream, so that a client sending slowly
# holds no thread of a service (only a little memory here): in memory up to this size, then in a
# temporary file. Answers up to WHOLE_ANSWER_BYTES are read whole and sent in one piece; larger
# ones (or of unknown length) stream back as they arrive.
IN_MEMORY_BODY_BYTES = 1024 * 1024
WHOLE_ANSWER_BYTES = 256 * 1024
STREAM_CHUNK_BYTES = 64 * 1024

PROXIED = Counter(
    "gateway_proxied_requests_total",
    "Calls the gateway answered on a proxied path, by service, method and status.",
    ["upstream", "method", "status"],
)
PROXY_LATENCY = Histogram(
    "gateway_proxied_request_duration_seconds",
    "Time until the answer's headers were ready (the body streams after), by service.",
    ["upstream"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


# The labelled children, looked up once (``labels()`` costs more than the count itself).
@lru_cache(maxsize=512)
def _counter(upstream: str, method: str, status: int) -> Any:
    return PROXIED.labels(upstream, method, str(status))


@lru_cache(maxsize=16)
def _latency(upstream: str) -> Any:
    return PROXY_LATENCY.labels(upstream)


class BodyTooLarge(Exception):
    def __init__(self, received: int) -> None:
        self.received = received


class ClientGone(Exception):
    """The client disconnected before its body was complete."""


class Call:
    """One proxied call: what the client sent, and the answer's status once known."""

    __slots__ = ("answered_at", "headers", "request_id", "scope", "status")

    def __init__(self, scope: dict[str, Any]) -> None:
        self.scope = scope
        # Header names arrive lower-cased; a repeated header keeps its first value here (the
        # full list is forwarded as sent).
        self.headers: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            self.headers.setdefault(name, value)
        sent = self.headers.get(b"x-request-id", b"").decode("latin-1")
        self.request_id = sent if sent and validate_guid(sent) else generate_guid()
        self.status = 500
        self.answered_at: float | None = None  # when the answer's headers were ready

    async def send_error(self, send: Send, status: int, code: str, message: str, **rest) -> None:
        self.status = status
        self.answered_at = time.perf_counter()
        extra = [(b"x-request-id", self.request_id.encode()), *rest.pop("extra_headers", ())]
        await send_json_error(send, status, code, message, extra_headers=extra, **rest)


async def proxy_app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    """ASGI application of every proxied path."""
    service = route(scope["path"])
    if service is None:
        raise ValueError(f"{scope['path']} is not a proxied path")
    started = time.perf_counter()
    call = Call(scope)
    set_guid(call.request_id)
    if tracing_enabled():
        span, token = edge_tracing.server_span_start(call.headers, scope, service.name)
        try:
            await _serve(call, service, receive, send, started)
        except Exception as exc:
            edge_tracing.server_span_failed(span, exc)
            raise
        finally:
            edge_tracing.server_span_end(span, token, call.status)
        return
    await _serve(call, service, receive, send, started)


async def _serve(
    call: Call, service: Upstream, receive: Receive, send: Send, started: float
) -> None:
    scope = call.scope
    try:
        await _answer(call, service, receive, send)
    except RequestTimeout as exc:
        await call.send_error(
            send, 408, "request_timeout", str(exc), close=True, timeout_seconds=exc.seconds
        )
    finally:
        method = scope["method"] if scope["method"] in METHODS else "other"
        _counter(service.name, method, call.status).inc()
        answered_at = call.answered_at or time.perf_counter()
        _latency(service.name).observe(answered_at - started)


async def _answer(call: Call, service: Upstream, receive: Receive, send: Send) -> None:
    scope, headers = call.scope, call.headers
    method = scope["method"]

    peer = scope["client"][0] if scope.get("client") else ""
    via_proxy = address_in(peer, settings.TRUSTED_PROXY_NETWORKS)
    host, scheme = _origin(call, via_proxy)
    if not _allowed_host(host, tuple(settings.ALLOWED_HOSTS)):
        await call.send_error(send, 400, "bad_request", f"Invalid HTTP_HOST header: {host!r}.")
        return

    authorization = headers.get(b"authorization")
    if authorization:
        await denied_tokens.refresh_async()
    try:
        claims = _bearer_claims(authorization)
        token_error = None
    except InvalidToken as exc:
        claims, token_error = None, exc

    address = _client_address(call, peer, via_proxy)
    subject = None if claims is None else str(claims["sub"])
    for key, rate in limits_for(path=scope["path"], subject=subject, address=address):
        refusal = await limit_refusal(key=key, rate=rate)
        if refusal is not None:
            error = refusal_document(refusal)["error"]
            await call.send_error(
                send,
                429,
                error["code"],
                error["message"],
                extra_headers=[(b"retry-after", str(refusal.retry_after_seconds).encode())],
                **error["details"],
            )
            return

    limit = settings.PROXY_BODY_MAX_BYTES
    raw_length = headers.get(b"content-length")
    declared = None
    if raw_length is not None:
        if not raw_length.isdigit():
            await call.send_error(send, 400, "bad_request", "Content-Length is not a number.")
            return
        declared = int(raw_length)
        if declared > limit:
            logger.warning("refused a %d-byte body (limit %d)", declared, limit)
            await _too_large(call, send, limit, content_length=declared)
            return

    if token_error is not None:
        response = token_error.get_codes(), str(token_error.detail)
        await call.send_error(
            send,
            401,
            str(response[0]),
            response[1],
            extra_headers=[(b"www-authenticate", b'Bearer realm="ecomms"')],
        )
        return
    if claims is None and not (service.public_reads and method in SAFE_METHODS):
        await call.send_error(
            send,
            401,
            "not_authenticated",
            "This call needs 'Authorization: Bearer <token>'.",
            extra_headers=[(b"www-authenticate", b'Bearer realm="ecomms"')],
        )
        return

    chunked = b"chunked" in headers.get(b"transfer-encoding", b"").lower()
    body: bytes | Spool | None = None
    if chunked or declared:
        try:
            body = await read_body(receive, limit)
        except BodyTooLarge as exc:
            logger.warning("refused a body of more than %d bytes (limit %d)", exc.received, limit)
            await _too_large(call, send, limit)
            return
        except ClientGone:
            return
        if declared is not None and len(body) != declared:
            await call.send_error(
                send,
                400,
                "bad_request",
                "The body is shorter than its Content-Length.",
                content_length=declared,
                received_bytes=len(body),
            )
            return

    outgoing = _request_headers(call, host, scheme, peer, via_proxy, body)
    await _exchange(call, service, method, outgoing, body, send)


async def _exchange(
    call: Call,
    service: Upstream,
    method: str,
    outgoing: list[tuple[str, str]],
    body: "bytes | Spool | None",
    send: Send,
) -> None:
    scope = call.scope
    target = service.base_url + scope["raw_path"].decode("latin-1")
    if scope["query_string"]:
        target += "?" + scope["query_string"].decode("latin-1")
    url = URL(target, encoded=True)
    timeout = pools.timeout(
        settings.UPSTREAM_CONNECT_TIMEOUT_SECONDS, settings.UPSTREAM_READ_TIMEOUT_SECONDS
    )
    attempts = 2 if method in SAFE_METHODS and body is None else 1
    answer = None
    traced = tracing_enabled()
    for attempt in range(1, attempts + 1):
        try:
            headers = edge_tracing.with_trace_headers(outgoing) if traced else outgoing
            answer = await _request(method, url, headers, body, timeout)
            break
        except aiohttp.ServerDisconnectedError as exc:
            # A pooled connection the service closed while idle fails on its next use; a read
            # without a body is safe to send once more on a fresh connection.
            if attempt < attempts:
                continue
            await _upstream_failed(call, service, send, exc)
            return
        except (aiohttp.ClientError, TimeoutError) as exc:
            await _upstream_failed(call, service, send, exc)
            return

    try:
        call.status = answer.status
        call.answered_at = time.perf_counter()
        returned = [
            (name.lower(), value)
            for name, value in answer.raw_headers
            if name.lower() not in NOT_RETURNED
        ]
        returned.append((b"x-request-id", call.request_id.encode()))
        length = answer.content_length
        if length is not None and length <= WHOLE_ANSWER_BYTES:
            try:
                content = await answer.read()
            except (aiohttp.ClientError, TimeoutError) as exc:  # nothing sent yet: say so
                call.answered_at = None
                answer.close()
                await _upstream_failed(call, service, send, exc)
                return
            await send(
                {"type": "http.response.start", "status": answer.status, "headers": returned}
            )
            await send({"type": "http.response.body", "body": content})
            return
        await send({"type": "http.response.start", "status": answer.status, "headers": returned})
        async for chunk in answer.content.iter_chunked(STREAM_CHUNK_BYTES):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    except (aiohttp.ClientError, TimeoutError) as exc:
        # Headers are gone already: all that is left is to end the client's connection
        # uncleanly, so that it sees the answer is cut short.
        logger.warning("the %s response broke off: %r", service.name, exc)
        answer.close()
        raise
    finally:
        answer.release()


async def _request(
    method: str,
    url: URL,
    outgoing: list[tuple[str, str]],
    body: "bytes | Spool | None",
    timeout: aiohttp.ClientTimeout,
) -> aiohttp.ClientResponse:
    return await pools.session().request(
        method,
        url,
        headers=outgoing,
        data=body.chunks() if isinstance(body, Spool) else body,
        allow_redirects=False,
        timeout=timeout,
        compress=None,
    )


async def _upstream_failed(call: Call, service: Upstream, send: Send, exc: Exception) -> None:
    if isinstance(exc, TimeoutError):  # aiohttp's connect and read timeouts are TimeoutErrors
        logger.warning("%s timed out: %r", service.name, exc)
        await call.send_error(
            send, 504, "upstream_timeout", f"The {service.name} service did not answer in time."
        )
    elif isinstance(exc, aiohttp.ClientConnectorError):
        logger.warning("%s is unreachable: %r", service.name, exc)
        await call.send_error(
            send, 503, "upstream_unavailable", f"The {service.name} service is unavailable."
        )
    else:
        logger.warning("%s answered badly: %r", service.name, exc)
        await call.send_error(
            send, 502, "bad_gateway", f"The {service.name} service gave an invalid answer."
        )


async def _too_large(call: Call, send: Send, limit: int, **details: int) -> None:
    await call.send_error(
        send,
        413,
        "payload_too_large",
        PayloadTooLarge.default_detail,
        max_bytes=limit,
        **details,
    )


class Spool:
    """A request body read whole before the call goes upstream: in memory, or in a temporary file
    once larger than ``IN_MEMORY_BODY_BYTES``."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.file: IO[bytes] | None = None
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.file is not None:
            self.file.write(chunk)
            return
        self.parts.append(chunk)
        if self.size > IN_MEMORY_BODY_BYTES:
            self.file = tempfile.TemporaryFile()  # noqa: SIM115 - closed once sent (or refused)
            self.file.writelines(self.parts)
            self.parts = []

    def whole(self) -> "bytes | Spool":
        """Return the body as bytes when it is in memory, else the spool itself."""
        return b"".join(self.parts) if self.file is None else self

    async def chunks(self) -> AsyncIterator[bytes]:
        assert self.file is not None
        self.file.seek(0)
        try:
            while chunk := self.file.read(STREAM_CHUNK_BYTES):
                yield chunk
        finally:
            self.file.close()


async def read_body(receive: Receive, limit: int) -> "bytes | Spool":
    """Read the whole body (under the body deadline), counted against ``limit``."""
    spool = Spool()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            if spool.file is not None:
                spool.file.close()
            raise ClientGone
        chunk = message.get("body", b"")
        if spool.size + len(chunk) > limit:
            if spool.file is not None:
                spool.file.close()
            raise BodyTooLarge(spool.size + len(chunk))
        if chunk:
            spool.write(chunk)
        if not message.get("more_body", False):
            return spool.whole()


def _bearer_claims(header: bytes | None) -> dict[str, Any] | None:
    """Return the claims of the bearer token, None without one; raise ``InvalidToken`` if bad."""
    if not header:
        return None
    scheme, _, token = header.decode("latin-1").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise InvalidToken("The Authorization header must be 'Bearer <access token>'.")
    return access_token_verify(token)


@lru_cache(maxsize=1024)
def _allowed_host(host: str, allowed: tuple[str, ...]) -> bool:
    """Apply Django's ``ALLOWED_HOSTS`` rule (what ``request.get_host()`` checks)."""
    domain, _ = split_domain_port(host)
    return bool(domain) and validate_host(domain, allowed)


def _origin(call: Call, via_proxy: bool) -> tuple[str, str]:
    """Return the host and scheme the client called, as Django's ``get_host``/``scheme`` would.

    A trusted proxy's ``X-Forwarded-Host`` and ``X-Forwarded-Proto`` are believed
    (``USE_X_FORWARDED_HOST``, ``SECURE_PROXY_SSL_HEADER``), anyone else's are not.
    """
    headers = call.headers
    host = headers.get(b"host", b"").decode("latin-1")
    scheme = call.scope.get("scheme", "http")
    if via_proxy:
        if settings.USE_X_FORWARDED_HOST and b"x-forwarded-host" in headers:
            host = headers[b"x-forwarded-host"].decode("latin-1")
        if settings.SECURE_PROXY_SSL_HEADER:
            name, secure = settings.SECURE_PROXY_SSL_HEADER
            sent = headers.get(name.removeprefix("HTTP_").replace("_", "-").lower().encode())
            if sent is not None:
                first = sent.decode("latin-1").split(",", 1)[0].strip()
                scheme = "https" if first == secure else "http"
    return host, scheme


@lru_cache(maxsize=16)
def _networks(cidrs: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return trusted_networks(cidrs)


def _client_address(call: Call, peer: str, via_proxy: bool) -> str:
    """Return the client's address (gateway.clients: forwarded headers from trusted proxies)."""
    networks = tuple(settings.TRUSTED_PROXY_NETWORKS)
    if not via_proxy:
        return _peer_address(peer, networks)
    said = {
        name.decode(): value.decode("latin-1")
        for name in CLIENT_ADDRESS_HEADERS
        if (value := call.headers.get(name)) is not None
    }
    return client_address(peer, said, _networks(networks))


@lru_cache(maxsize=4096)
def _peer_address(peer: str, networks: tuple[str, ...]) -> str:
    return client_address(peer, {}, _networks(networks))


def _request_headers(
    call: Call, host: str, scheme: str, peer: str, via_proxy: bool, body: "bytes | Spool | None"
) -> list[tuple[str, str]]:
    """Return the headers of the upstream request: the client's, less hop-by-hop ones and the
    gateway's own, plus the forwarding headers, the request id and the body's length."""
    connection_tokens = {
        token.strip().lower().encode("latin-1")
        for token in call.headers.get(b"connection", b"").decode("latin-1").split(",")
    }
    outgoing = [
        (name.decode("latin-1"), value.decode("latin-1"))
        for name, value in call.scope["headers"]
        if name not in NOT_FORWARDED and name not in connection_tokens
    ]
    prior = call.headers.get(b"x-forwarded-for") if via_proxy else None
    forwarding = forwarded_headers(
        client=peer,
        scheme=scheme,
        host=host,
        prior_for=None if prior is None else prior.decode("latin-1"),
    )
    outgoing += forwarding.items()
    outgoing.append(("X-Request-ID", call.request_id))
    if body is not None:
        outgoing.append(("Content-Length", str(len(body))))
    return outgoing
