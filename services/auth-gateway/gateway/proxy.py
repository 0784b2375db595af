"""The single entry point: check the caller's token, then stream the call to its service.

Catalog reads are public; everything else needs a valid access token of ours. The
``Authorization`` header is passed through unchanged: services verify tokens themselves.
"""

import functools
import http.cookiejar
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import requests
from django.conf import settings
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt
from requests.adapters import HTTPAdapter
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import ProtocolError

from ecomms_common.auth import InvalidToken
from ecomms_common.correlation import HEADER as REQUEST_ID_HEADER
from ecomms_common.correlation import current_request_id
from ecomms_common.errors import error_response
from gateway.tokens import access_token_verify

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


@functools.cache
def _session(pool_size: int) -> requests.Session:
    session = requests.Session()
    # No retries: a request with a body may not be safe to send twice.
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.trust_env = False  # upstreams are ours: no proxy from the environment
    # One session serves every client: a cookie one upstream answer sets must never ride along
    # on another client's call.
    session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    return session


def upstream_session() -> requests.Session:
    """Return this process's pooled session to the upstream services."""
    return _session(settings.UPSTREAM_POOL_SIZE)


def bearer_claims(request: HttpRequest) -> dict[str, Any] | None:
    """Return the claims of the request's bearer token, None without one; raise if it is bad.

    Verified once per request (the rate limiter and the proxy both ask).
    """
    if not hasattr(request, "_gateway_bearer"):
        try:
            request._gateway_bearer = (_verify_authorization(request), None)
        except InvalidToken as exc:
            request._gateway_bearer = (None, exc)
    claims, error = request._gateway_bearer
    if error is not None:
        raise error
    return claims


def _verify_authorization(request: HttpRequest) -> dict[str, Any] | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise InvalidToken("The Authorization header must be 'Bearer <access token>'.")
    return access_token_verify(token)


def _unauthorized(code: str, message: str) -> HttpResponse:
    response = error_response(401, code, message)
    response["WWW-Authenticate"] = 'Bearer realm="ecomms"'
    return response


def _forwarded_headers(request: HttpRequest) -> dict[str, str]:
    connection_tokens = {
        token.strip().lower() for token in request.headers.get("Connection", "").split(",")
    }
    headers = {
        name: value
        for name, value in request.headers.items()
        if name.lower() not in NOT_FORWARDED and name.lower() not in connection_tokens
    }
    client = request.META.get("REMOTE_ADDR", "")
    prior = request.headers.get("X-Forwarded-For")
    headers["X-Forwarded-For"] = f"{prior}, {client}" if prior else client
    headers["X-Forwarded-Proto"] = request.scheme
    headers["X-Forwarded-Host"] = request.get_host()
    request_id = current_request_id()
    if request_id:
        headers[REQUEST_ID_HEADER] = request_id
    return headers


def _stream(upstream: requests.Response) -> Iterator[bytes]:
    """Yield the upstream body as it arrives, byte for byte (still encoded)."""
    finished = False
    try:
        yield from upstream.raw.stream(STREAM_CHUNK_BYTES, decode_content=False)
        finished = True  # urllib3 has put the connection back into the pool
    except (Urllib3Error, OSError) as exc:
        logger.warning("the upstream response broke off: %r", exc)
    finally:
        if not finished:
            upstream.close()  # a half-read connection cannot be reused


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

    url = upstream.base_url + request.get_full_path()
    timeout = (settings.UPSTREAM_CONNECT_TIMEOUT_SECONDS, settings.UPSTREAM_READ_TIMEOUT_SECONDS)
    try:
        answer = upstream_session().request(
            request.method or "GET",
            url,
            headers=_forwarded_headers(request),
            data=request.body or None,
            stream=True,
            allow_redirects=False,
            timeout=timeout,
        )
    except requests.Timeout as exc:
        logger.warning("%s timed out: %r", upstream.name, exc)
        return error_response(
            504, "upstream_timeout", f"The {upstream.name} service did not answer in time."
        )
    except requests.RequestException as exc:
        # requests reports a garbled answer as a ConnectionError too: it wraps a ProtocolError.
        answered = exc.args and isinstance(exc.args[0], ProtocolError)
        if isinstance(exc, requests.ConnectionError) and not answered:
            logger.warning("%s is unreachable: %r", upstream.name, exc)
            return error_response(
                503, "upstream_unavailable", f"The {upstream.name} service is unavailable."
            )
        logger.warning("%s answered badly: %r", upstream.name, exc)
        return error_response(
            502, "bad_gateway", f"The {upstream.name} service gave an invalid answer."
        )

    response = StreamingHttpResponse(
        _stream(answer), status=answer.status_code, reason=answer.reason
    )
    if "Content-Type" not in answer.headers:
        del response["Content-Type"]  # Django's default; the service sent none
    for name, value in answer.headers.items():
        if name.lower() not in HOP_BY_HOP | SERVER_WRITTEN:
            response[name] = value
    return response


@csrf_exempt
def catalog_proxy(request: HttpRequest, path: str = "") -> HttpResponse:
    return proxy(request, CATALOG)


@csrf_exempt
def orders_proxy(request: HttpRequest, path: str = "") -> HttpResponse:
    return proxy(request, ORDERS)
