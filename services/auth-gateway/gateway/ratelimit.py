"""Per-client rate limiting (django-ratelimit over Django's cache): 429 with ``Retry-After``.

A client is the subject of its valid access token, otherwise its address
(``RATELIMIT_IP_META_KEY``). ``RATE_LIMIT`` (e.g. ``300/m``) applies to every path but the probes.
"""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django_ratelimit.core import get_usage

from ecomms_common.auth import InvalidToken
from ecomms_common.errors import error_response
from gateway.authentication import bearer_claims

EXEMPT_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


def client_key(group: str, request: HttpRequest) -> str:
    """Return who is calling: the token's subject when the token is valid, else the address."""
    try:
        claims = bearer_claims(request)
    except InvalidToken:
        claims = None
    if claims is not None:
        return f"sub:{claims['sub']}"
    return f"ip:{request.META.get(settings.RATELIMIT_IP_META_KEY, '')}"


def rate_limit_refusal(request: HttpRequest) -> HttpResponse | None:
    """Count the call against its client's budget; return a 429 once the budget is spent."""
    usage = get_usage(
        request, group="gateway", key=client_key, rate=settings.RATE_LIMIT, increment=True
    )
    if usage is None or not usage["should_limit"]:
        return None
    retry_after = max(1, int(usage["time_left"]))
    response = error_response(
        429,
        "rate_limited",
        "Too many requests; slow down.",
        limit=usage["limit"],
        retry_after_seconds=retry_after,
    )
    response["Retry-After"] = str(retry_after)
    return response


class RateLimitMiddleware:
    """The limit for the gateway's own paths (proxied calls are counted by ProxyMiddleware)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path in EXEMPT_PATHS:
            return self.get_response(request)
        return rate_limit_refusal(request) or self.get_response(request)
