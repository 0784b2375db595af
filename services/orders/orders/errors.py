"""Errors the orders service raises on purpose (each a status and a stable code)."""

from rest_framework import status

from ecomms_common.errors import ServiceError
from orders.clients.catalog import CatalogBadResponse, CatalogUnavailable

__all__ = [
    "CatalogBadResponse",
    "CatalogUnavailable",
    "CurrencyMismatch",
    "IdempotencyKeyReused",
    "IllegalTransition",
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
