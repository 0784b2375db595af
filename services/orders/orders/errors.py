"""Errors the orders service raises on purpose (each a status and a stable code)."""

import math
from typing import Any

from rest_framework import status

from ecomms_common.errors import ServiceError
from orders.clients.catalog import CatalogBadResponse, CatalogUnavailable

__all__ = [
    "CatalogBadResponse",
    "CatalogUnavailable",
    "CurrencyMismatch",
    "IdempotencyKeyReused",
    "IllegalTransition",
    "PhoneChangeNeedsCode",
    "PhoneCodeExpired",
    "PhoneCodeWrong",
    "TooManyPhoneCodeAttempts",
    "TooManyPhoneCodes",
    "UnknownProducts",
]


class UnknownProducts(ServiceError):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_code = "unknown_products"
    default_detail = "Some products do not exist in the catalog."


class CurrencyMismatch(ServiceError):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_code = "currency_mismatch"
    default_detail = "Some products are not sold in the order's currency."


class IllegalTransition(ServiceError):
    status_code = status.HTTP_409_CONFLICT
    default_code = "illegal_transition"
    default_detail = "The order cannot move to that status from its current one."


class IdempotencyKeyReused(ServiceError):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_code = "idempotency_key_reused"
    default_detail = "This Idempotency-Key was already used with a different request body."


class PhoneChangeNeedsCode(ServiceError):
    """PATCH of a new phone number: a number is only taken once its code was confirmed."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid"
    default_detail = "The request is invalid; see details for each field."


class PhoneCodeWrong(ServiceError):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "wrong_code"
    default_detail = "That is not the code sent to the number."


class PhoneCodeExpired(ServiceError):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "code_expired"
    default_detail = "No code can be confirmed: it expired, was used, or none was requested."


class _RetryLater(ServiceError):
    """A 429; DRF's exception handler turns ``wait`` into the ``Retry-After`` header."""

    status_code = status.HTTP_429_TOO_MANY_REQUESTS

    def __init__(
        self, detail: str | None = None, *, wait: float, details: dict[str, Any] | None = None
    ):
        self.wait = max(1, math.ceil(wait))
        super().__init__(detail, details={**(details or {}), "retry_after_seconds": self.wait})


class TooManyPhoneCodes(_RetryLater):
    default_code = "too_many_codes"
    default_detail = "Too many codes were sent lately; try again after Retry-After seconds."


class TooManyPhoneCodeAttempts(_RetryLater):
    default_code = "too_many_attempts"
    default_detail = (
        "Too many wrong codes: this code is dead. Request a new code (after Retry-After seconds)."
    )
