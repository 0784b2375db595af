"""One error shape for every 4xx/5xx: ``{"error": {"code", "message", "details"}}``.

DRF views go through :func:`exception_handler`; Django's own 400/403/404/500 pages and CSRF
failures through the ``handler*`` views below; oversized bodies are refused by
:class:`RequestBodyLimitMiddleware` before anything reads them.

A database that cannot be reached is a dependency that is down, not a bug: wherever the
connection failure surfaces (a DRF view, a plain Django view, a middleware), the client gets
503 ``database_unavailable``, never a 500. Only such connection failures are 503: an error the
server gives for the query itself (a programming or data error, a cancelled statement) would be
given again to a retry, so it is a 500 ``internal_error`` carrying the request id, with the
traceback in the log line Django writes for it.
"""

import logging
import sys
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django_guid import get_guid
from rest_framework import exceptions, status

logger = logging.getLogger(__name__)


class ServiceError(exceptions.APIException):
    """Base for the errors a service raises on purpose: a status, a stable code and a message."""

    status_code = status.HTTP_500_INTERNAL_SERVER_ERROR
    default_code = "service_error"
    default_detail = "The service could not complete the request."

    def __init__(self, detail: str | None = None, *, details: dict[str, Any] | None = None):
        super().__init__(detail=detail, code=self.default_code)
        self.details = details or {}


class ServiceUnavailable(ServiceError):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "service_unavailable"
    default_detail = "A dependency of this service is unavailable; try again shortly."


class DatabaseUnavailable(ServiceUnavailable):
    default_code = "database_unavailable"
    default_detail = "The service's database cannot be reached right now; try again shortly."


# SQLSTATEs of an OperationalError that mean the connection failed or the server is not taking
# work, rather than a query the server refused (a deadlock or a statement timeout stays a 500).
_CONNECTION_SQLSTATES = ("08", "57P01", "57P02", "57P03", "53300")


def sqlstate(exc: BaseException) -> str | None:
    """Return the SQLSTATE of the driver's error behind one of Django's database errors.

    psycopg 3 has ``sqlstate``, psycopg2 ``pgcode``; both are None when no server answered
    (refused, reset, closed unexpectedly, timed out).
    """
    cause = exc.__cause__
    return getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)


def is_database_unavailable(exc: BaseException | None) -> bool:
    """Return whether ``exc`` is Django's error for a database connection that failed."""
    if isinstance(exc, InterfaceError):  # e.g. "connection already closed"
        return True
    if not isinstance(exc, OperationalError):
        return False
    state = sqlstate(exc)
    return state is None or state.startswith(_CONNECTION_SQLSTATES)


class PayloadTooLarge(ServiceError):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "payload_too_large"
    default_detail = "The request body is larger than this endpoint accepts."


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return the JSON body of an error response."""
    return {"error": {"code": code, "message": message, "details": details or {}}}


# What a validation error says, from DRF views and from plain ones alike.
INVALID_MESSAGE = "The request is invalid; see details for each field."


def error_response(status_code: int, code: str, message: str, **details: Any) -> JsonResponse:
    """Return a plain Django JSON error response (for code outside DRF views)."""
    return JsonResponse(error_body(code, message, details), status=status_code)


def _describe(exc: exceptions.APIException) -> tuple[str, str, dict[str, Any]]:
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail
        if not isinstance(detail, dict):
            detail = {"non_field_errors": detail}
        return "invalid", INVALID_MESSAGE, detail
    if isinstance(exc, ServiceError):
        return exc.default_code, str(exc.detail), exc.details
    if isinstance(exc.detail, dict | list):
        details = exc.detail if isinstance(exc.detail, dict) else {"errors": exc.detail}
        return exc.default_code, str(exc.default_detail), details
    return str(exc.get_codes()), str(exc.detail), {}


def exception_handler(exc: Exception, context: dict[str, Any]) -> HttpResponse | None:
    """DRF exception handler: render every API error in the common shape."""
    # Imported here: rest_framework.views loads the authentication classes, which import us.
    from rest_framework.views import exception_handler as drf_exception_handler

    if isinstance(exc, RecursionError):
        # json.loads of a body nested thousands deep: the body is refused, not the service.
        exc = exceptions.ParseError("JSON parse error - nested too deeply.")
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif is_database_unavailable(exc):
        logger.warning("database unavailable: %r", exc)
        exc = DatabaseUnavailable()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # not an API error: Django's handler500 answers, after logging it
    code, message, details = _describe(exc)
    response.data = error_body(code, message, details)
    return response


def bad_request(request: HttpRequest, exception: Exception) -> JsonResponse:
    return error_response(400, "bad_request", "The request could not be understood.")


def permission_denied(request: HttpRequest, exception: Exception) -> JsonResponse:
    return error_response(403, "permission_denied", "You may not perform this action.")


def page_not_found(request: HttpRequest, exception: Exception) -> JsonResponse:
    return error_response(404, "not_found", "No resource at this path.", path=request.path)


def server_error(request: HttpRequest) -> JsonResponse:
    # Django calls this inside its ``except`` block, so the exception is still at hand: a
    # database connection failure outside a DRF view (a plain view, a middleware) is a 503 too.
    if is_database_unavailable(sys.exc_info()[1]):
        return error_response(
            DatabaseUnavailable.status_code,
            DatabaseUnavailable.default_code,
            DatabaseUnavailable.default_detail,
        )
    # Django has logged the traceback (logger django.request) under this request id.
    return error_response(
        500,
        "internal_error",
        "The service failed to handle the request; quote the request id when reporting it.",
        request_id=get_guid(),
    )


def csrf_failure(request: HttpRequest, reason: str = "") -> JsonResponse:
    return error_response(403, "csrf_failed", "CSRF verification failed.", reason=reason)


class RequestBodyLimitMiddleware:
    """Refuse a body larger than ``REQUEST_BODY_MAX_BYTES`` with 413, by its Content-Length.

    DRF's parsers read the request stream directly, so Django's DATA_UPLOAD_MAX_MEMORY_SIZE
    alone never stops a large JSON body. ``limit_setting`` names another setting to apply
    instead (the gateway's proxy applies ``PROXY_BODY_MAX_BYTES``). A Content-Length that is not
    a plain decimal number (RFC 9110 section 8.6) is a 400.
    """

    def __init__(
        self,
        get_response: Callable[[HttpRequest], HttpResponse],
        *,
        limit_setting: str = "REQUEST_BODY_MAX_BYTES",
    ):
        self.get_response = get_response
        self.limit_setting = limit_setting

    def __call__(self, request: HttpRequest) -> HttpResponse:
        raw_length = request.META.get("CONTENT_LENGTH") or "0"
        if not (raw_length.isascii() and raw_length.isdigit()):
            return error_response(400, "bad_request", "Content-Length is not a number.")
        length = int(raw_length)
        limit = getattr(settings, self.limit_setting)
        if length > limit:
            logger.warning("refused a %d-byte body (limit %d)", length, limit)
            return error_response(
                413,
                PayloadTooLarge.default_code,
                PayloadTooLarge.default_detail,
                max_bytes=limit,
                content_length=length,
            )
        return self.get_response(request)
