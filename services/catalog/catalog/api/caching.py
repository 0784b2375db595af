"""HTTP caching of anonymous reads: ``ETag``, ``Cache-Control`` and 304 on ``If-None-Match``.

The ETag is a hash of the body, so it changes exactly when the answer does, whatever write
changed it (an upload, a move, a delete). Caches may serve an answer for a few seconds, and a
little longer while they revalidate it in the background.
"""

import hashlib

from django.http import HttpRequest, HttpResponse
from django.utils.cache import get_conditional_response

MAX_AGE_SECONDS = 5
STALE_WHILE_REVALIDATE_SECONDS = 30
CACHE_CONTROL = (
    f"public, max-age={MAX_AGE_SECONDS}, stale-while-revalidate={STALE_WHILE_REVALIDATE_SECONDS}"
)


def body_etag(body: bytes) -> str:
    """Return the strong ETag of an answer's body."""
    return f'"{hashlib.blake2b(body, digest_size=16).hexdigest()}"'


def is_cacheable_read(method: str | None, status: int, meta: dict) -> bool:
    """Return whether an answer is a successful read that shared caches may keep."""
    return method in ("GET", "HEAD") and status == 200 and "HTTP_AUTHORIZATION" not in meta


def cached_read(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """Give a successful anonymous read its ETag and Cache-Control; 304 when the client has it."""
    if response.streaming or not is_cacheable_read(
        request.method, response.status_code, request.META
    ):
        return response
    etag = body_etag(response.content)
    response["ETag"] = etag
    response["Cache-Control"] = CACHE_CONTROL
    return get_conditional_response(request, etag=etag, response=response)


class CachedReadMixin:
    """For an APIView: its successful anonymous reads are cached as :func:`cached_read` says."""

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if is_cacheable_read(request.method, response.status_code, request.META):
            response.render()
            return cached_read(request, response)
        return response
