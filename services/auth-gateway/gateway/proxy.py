"""The single entry point: check the caller's token, then stream the call to its service.

Catalog reads are public; everything else needs a valid access token of ours. The
``Authorization`` header is passed through unchanged: services verify tokens themselves.

:class:`ProxyMiddleware` runs first and handles every proxied path itself, so a proxied call
pays for what it needs (request id, rate limit, body limit, token check, metrics) and not for
the session, CSRF, auth, static-file and common middleware that only the gateway's own pages use.
Upstream connections come from one urllib3 pool per service and stay open between calls.
"""

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import urllib3
from django.conf import settings
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django_guid import set_guid
from django_guid.utils import get_id_from_header
from prometheus_client import Counter, Histogram
from urllib3 import exceptions as upstream_errors

from ecomms_common.auth import InvalidToken
from ecomms_common.correlation import HEADER as REQUEST_ID_HEADER
from ecomms_common.errors import RequestBodyLimitMiddleware, error_response
from gateway.authentication import bearer_claims
from gateway.ratelimit import rate_limit_refusal

logger = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# RFC 9110 section 7.6.1: meaningful for one connection only, never forwarded.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
# Set by the gateway itself (or by requests for the upstream connection); the browser session
# cookie is the gateway's own and stays here.
NOT_FORWARDED = HOP_BY_HOP | {
    "host",
    "content-length",
    "cookie",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    REQUEST_ID_HEADER.lower(),
}
# The gateway's own server writes these on every response; a second copy would be a duplicate.
SERVER_WRITTEN = frozenset({"date", "server"})
STREAM_CHUNK_BYTES = 64 * 1024


@dataclass(frozen=True)
class Upstream:
    name: str
    url_setting: str
    public_reads: bool

    @property
    def base_url(self) -> str:
        return str(getattr(settings, self.url_setting)).rstrip("/")


CATALOG = Upstream(name="catalog", url_setting="CATALOG_URL", public_reads=True)
ORDERS = Upstream(name="orders", url_setting="ORDERS_URL", public_reads=False)
# The first path segment names the service behind it.
ROUTES = {"products": CATALOG, "categories": CATALOG, "orders": ORDERS, "customers": ORDERS}

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
METHODS = frozenset({"GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"})


def route(path: str) -> Upstream | None:
    """Return the service a path belongs to, None for the gateway's own paths."""
    segment = path[1:].partition("/")[0]
    return ROUTES.get(segment)


_pools: dict[tuple[str, int], urllib3.HTTPConnectionPool] = {}


def upstream_pool(base_url: str) -> urllib3.HTTPConnectionPool:
    """Return this process's pool of keep-alive connections to one upstream."""
    size = settings.UPSTREAM_POOL_SIZE
    pool = _pools.get((base_url, size))
    if pool is None:
        # Threads may race here: the loser's pool is merely dropped.
        pool = _pools.setdefault(
            (base_url, size),
            urllib3.connection_from_url(base_url, maxsize=size, block=False, retries=False),
        )
    return pool


def _unauthorized(code: str, message: str) -> HttpResponse:
    response = error_response(401, code, message)
    response["WWW-Authenticate"] = 'Bearer realm="ecomms"'
    return response


def _forwarded_headers(request: HttpRequest, request_id: str) -> dict[str, str]:
    from gateway.forwarding import FORWARDING_HEADERS, forwarded_headers

    connection_tokens = {
        token.strip().lower() for token in request.headers.get("Connection", "").split(",")
    }
    headers = {
        name: value
        for name, value in request.headers.items()
        if name.lower() not in NOT_FORWARDED | FORWARDING_HEADERS
        and name.lower() not in connection_tokens
    }
    # What is left of a proxy's own forwarding headers came from a trusted one (the Ingress).
    headers.update(
        forwarded_headers(
            client=request.META.get("REMOTE_ADDR", ""),
            scheme=request.scheme,
            host=request.get_host(),
            prior_for=request.headers.get("X-Forwarded-For"),
        )
    )
    headers[REQUEST_ID_HEADER] = request_id
    return headers


def _stream(upstream: urllib3.BaseHTTPResponse) -> Iterator[bytes]:
    """Yield the upstream body as it arrives, byte for byte (still encoded)."""
    finished = False
    try:
        yield from upstream.stream(STREAM_CHUNK_BYTES, decode_content=False)
        finished = True
    except (upstream_errors.HTTPError, OSError) as exc:
        logger.warning("the upstream response broke off: %r", exc)
    finally:
        if finished:
            upstream.release_conn()  # read to the end: the connection serves the next call
        else:
            upstream.close()  # a half-read connection cannot be reused
            upstream.release_conn()


def _send(
    request: HttpRequest, upstream: Upstream, headers: dict[str, str], body: bytes | None
) -> urllib3.BaseHTTPResponse:
    method = request.method or "GET"
    timeout = urllib3.Timeout(
        connect=settings.UPSTREAM_CONNECT_TIMEOUT_SECONDS,
        read=settings.UPSTREAM_READ_TIMEOUT_SECONDS,
    )
    pool = upstream_pool(upstream.base_url)
    attempts = 2 if method in SAFE_METHODS and body is None else 1
    for attempt in range(1, attempts + 1):
        try:
            return pool.urlopen(
                method,
                request.get_full_path(),
                body=body,
                headers=headers,
                retries=False,
                redirect=False,
                timeout=timeout,
                preload_content=False,
                decode_content=False,
                assert_same_host=False,
            )
        except upstream_errors.ProtocolError:
            # A pooled connection the service closed while idle fails on its next use; a read
            # without a body is safe to send once more on a fresh connection.
            if attempt == attempts:
                raise
    raise AssertionError("unreachable")


def proxy(request: HttpRequest, upstream: Upstream) -> HttpResponse:
    """Send the request to the upstream service and stream its answer back unchanged."""
    try:
        claims = bearer_claims(request)
    except InvalidToken as exc:
        return _unauthorized(str(exc.get_codes()), str(exc.detail))
    if claims is None and not (upstream.public_reads and request.method in SAFE_METHODS):
        return _unauthorized(
            "not_authenticated", "This call needs 'Authorization: Bearer <token>'."
        )

    if "chunked" in request.headers.get("Transfer-Encoding", "").lower():
        # The WSGI server hands Django no length for a chunked body, so it would arrive empty.
        return error_response(411, "length_required", "Send the body with a Content-Length.")

    # Read from the stream, not request.body: that would apply DATA_UPLOAD_MAX_MEMORY_SIZE (the
    # gateway's own views' limit) as a bare 400. ProxyMiddleware has applied
    # PROXY_BODY_MAX_BYTES to the Content-Length already.
    body = request.read()
    declared = int(request.META.get("CONTENT_LENGTH") or 0)
    if len(body) != declared:
        return error_response(
            400,
            "bad_request",
            "The body is shorter than its Content-Length.",
            content_length=declared,
            received_bytes=len(body),
        )

    try:
        answer = _send(
            request, upstream, _forwarded_headers(request, request.correlation_id), body or None
        )
    except upstream_errors.NewConnectionError as exc:  # before TimeoutError: it is one
        logger.warning("%s is unreachable: %r", upstream.name, exc)
        return error_response(
            503, "upstream_unavailable", f"The {upstream.name} service is unavailable."
        )
    except upstream_errors.TimeoutError as exc:
        logger.warning("%s timed out: %r", upstream.name, exc)
        return error_response(
            504, "upstream_timeout", f"The {upstream.name} service did not answer in time."
        )
    except upstream_errors.HTTPError as exc:
        logger.warning("%s answered badly: %r", upstream.name, exc)
        return error_response(
            502, "bad_gateway", f"The {upstream.name} service gave an invalid answer."
        )

    response = StreamingHttpResponse(_stream(answer), status=answer.status, reason=answer.reason)
    if "Content-Type" not in answer.headers:
        del response["Content-Type"]  # Django's default; the service sent none
    for name, value in answer.headers.items():
        if name.lower() not in HOP_BY_HOP | SERVER_WRITTEN:
            response[name] = value
    return response


class ProxyMiddleware:
    """Answer every proxied path here, first; pass the gateway's own paths down the stack.

    Does, in order, what the stack would have done for a proxied call: take or make the request
    id (django-guid's rules, so logs carry it), the per-client rate limit, the body limit of
    proxied calls (``PROXY_BODY_MAX_BYTES``), and Prometheus metrics of its own
    (``gateway_proxied_*``).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response
        self.body_limit = RequestBodyLimitMiddleware(
            lambda request: None, limit_setting="PROXY_BODY_MAX_BYTES"
        )

    def __call__(self, request: HttpRequest) -> HttpResponse:
        upstream = route(request.path_info)
        if upstream is None:
            return self.get_response(request)
        started = time.perf_counter()
        request_id = get_id_from_header(request)  # sets request.correlation_id
        set_guid(request_id)
        response = (
            rate_limit_refusal(request) or self.body_limit(request) or proxy(request, upstream)
        )
        response[REQUEST_ID_HEADER] = request_id
        if not response.streaming:
            # An answer of the gateway's own (401, 413, 429, 5xx): what SecurityMiddleware adds.
            response.headers.setdefault("X-Content-Type-Options", "nosniff")
        method = request.method if request.method in METHODS else "other"
        PROXIED.labels(upstream.name, method, str(response.status_code)).inc()
        PROXY_LATENCY.labels(upstream.name).observe(time.perf_counter() - started)
        return response
