"""One view per operation: parse the input, call one service or selector, render the output."""

import re
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import DataError
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ecomms_common.auth import IsAdmin, IsCustomer
from ecomms_common.errors import ServiceError, sqlstate
from ecomms_common.openapi import CursorPage, error_responses, page_parameters, paginated
from orders import selectors, services
from orders.api.serializers import (
    CustomerInputSerializer,
    CustomerOutputSerializer,
    OrderListFilterSerializer,
    OrderOutputSerializer,
    OrderPlaceInputSerializer,
    PhoneCodeInputSerializer,
    PhoneVerificationInputSerializer,
    PhoneVerificationOutputSerializer,
)
from orders.models import Order

IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY_RE = re.compile(r"^[\x21-\x7e]{1,255}$")

idempotency_parameter = OpenApiParameter(
    IDEMPOTENCY_HEADER,
    str,
    OpenApiParameter.HEADER,
    required=False,
    description="Any 1-255 visible ASCII characters; the same key and body place one order.",
)


class OrderTotalTooLarge(ServiceError):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_code = "order_total_too_large"
    default_detail = "The order's total is larger than an order can hold; split the order."


# SQLSTATE numeric_value_out_of_range: a total or price beyond its column's digits.
_NUMERIC_OUT_OF_RANGE = "22003"


@contextmanager
def _amounts_fit() -> Iterator[None]:
    """Turn an amount the order's columns cannot hold into a 422; the order rolled back whole."""
    try:
        yield
    except DataError as exc:
        if sqlstate(exc) != _NUMERIC_OUT_OF_RANGE:
            raise
        raise OrderTotalTooLarge() from exc


class OrderPagination(CursorPage):
    """Newest first: keyset pages by descending id (ids follow the order of placing)."""

    ordering = "-id"
    max_page_size = 100


def _idempotency_key(request: Request) -> str | None:
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    if not IDEMPOTENCY_KEY_RE.match(key):
        raise exceptions.ValidationError(
            {IDEMPOTENCY_HEADER: ["Use 1 to 255 visible ASCII characters (no spaces)."]}
        )
    return key


class OrderListCreateView(APIView):
    permission_classes = [IsAuthenticated]

    def get_permissions(self) -> list:
        if self.request.method == "POST":
            return [IsAuthenticated(), IsCustomer()]
        return super().get_permissions()

    @extend_schema(
        summary="Place an order at the catalog's current prices",
        request=OrderPlaceInputSerializer,
        responses={201: OrderOutputSerializer, **error_responses(422, 502)},
        parameters=[idempotency_parameter],
        tags=["orders"],
    )
    def post(self, request: Request) -> Response:
        serializer = OrderPlaceInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        key = _idempotency_key(request)
        customer = services.customer_from_user(user=request.user)
        items = [services.OrderLine(**line) for line in serializer.validated_data["items"]]
        currency = serializer.validated_data["currency"]
        if key is None:
            with _amounts_fit():
                order = services.order_place(customer=customer, items=items, currency=currency)
            return Response(OrderOutputSerializer(order).data, status=status.HTTP_201_CREATED)
        with _amounts_fit():
            placed = services.order_place_idempotent(
                customer=customer,
                key=key,
                body_hash=services.request_hash(request.data),
                items=items,
                currency=currency,
                render=lambda order: OrderOutputSerializer(order).data,
            )
        headers = {"Idempotent-Replayed": "true"} if placed.replayed else {}
        return Response(placed.body, status=placed.status, headers=headers)

    @extend_schema(
        operation_id="orders_list",
        summary="List orders, newest first (a customer's own; all for an admin)",
        parameters=[OrderListFilterSerializer, *page_parameters(OrderPagination)],
        responses={200: paginated("OrderPage", OrderOutputSerializer(many=True))},
        tags=["orders"],
    )
    def get(self, request: Request) -> Response:
        filters = OrderListFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        orders = selectors.order_list(
            user=request.user,
            customer_sub=filters.validated_data.get("customer"),
            status=filters.validated_data.get("status"),
        )
        paginator = OrderPagination()
        page = paginator.paginate_queryset(orders, request, view=self)
        return paginator.get_paginated_response(OrderOutputSerializer(page, many=True).data)


def _visible_order(request: Request, order_id: int) -> Order:
    order = selectors.order_get(user=request.user, order_id=order_id)
    if order is None:
        raise exceptions.NotFound("No such order.")
    return order


class OrderDetailView(APIView):
    @extend_schema(
        summary="One order (own, or any for an admin)",
        responses={200: OrderOutputSerializer},
        tags=["orders"],
    )
    def get(self, request: Request, order_id: int) -> Response:
        return Response(OrderOutputSerializer(_visible_order(request, order_id)).data)


class OrderCancelView(APIView):
    @extend_schema(
        summary="Cancel a PENDING order (its owner, or an admin)",
        request=None,
        responses={200: OrderOutputSerializer, **error_responses(409)},
        tags=["orders"],
    )
    def post(self, request: Request, order_id: int) -> Response:
        order = _visible_order(request, order_id)
        changed_by = "admin" if request.user.is_admin else "customer"
        order = services.order_cancel(order=order, changed_by=changed_by)
        return Response(OrderOutputSerializer(order).data)


class OrderPayView(APIView):
    permission_classes = [IsAuthenticated, IsAdmin]

    @extend_schema(
        summary="Mark a PENDING order as paid (admin)",
        request=None,
        responses={200: OrderOutputSerializer, **error_responses(409)},
        tags=["orders"],
    )
    def post(self, request: Request, order_id: int) -> Response:
        order = services.order_mark_paid(order=_visible_order(request, order_id))
        return Response(OrderOutputSerializer(order).data)


class CustomerMeView(APIView):
    permission_classes = [IsAuthenticated, IsCustomer]

    @extend_schema(
        summary="The caller's customer profile",
        responses={200: CustomerOutputSerializer},
        tags=["customers"],
    )
    def get(self, request: Request) -> Response:
        customer = services.customer_from_user(user=request.user)
        return Response(CustomerOutputSerializer(customer).data)

    @extend_schema(
        summary="Set the caller's full name; clear their phone (a new number needs its code)",
        request=CustomerInputSerializer,
        responses={200: CustomerOutputSerializer},
        tags=["customers"],
    )
    def patch(self, request: Request) -> Response:
        serializer = CustomerInputSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        customer = services.customer_from_user(user=request.user)
        customer = services.customer_update(customer=customer, **serializer.validated_data)
        return Response(CustomerOutputSerializer(customer).data)


retry_after_header = OpenApiParameter(
    "Retry-After",
    int,
    OpenApiParameter.HEADER,
    response=[429],
    description="Seconds to wait before trying again.",
)


def _too_many(description: str) -> dict[int, OpenApiResponse]:
    # The shared Error component replaces this body (ecomms_common.openapi.document_errors).
    return {429: OpenApiResponse(response=dict, description=description)}


class PhoneVerificationView(APIView):
    permission_classes = [IsAuthenticated, IsCustomer]

    @extend_schema(
        summary="Text a one-time code to a mobile number (confirmed, it is the caller's phone)",
        request=PhoneVerificationInputSerializer,
        responses={
            202: PhoneVerificationOutputSerializer,
            **_too_many(
                "`too_many_codes`: the caller, or the number, has had its codes for the window."
            ),
        },
        parameters=[retry_after_header],
        tags=["customers"],
    )
    def post(self, request: Request) -> Response:
        serializer = PhoneVerificationInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        customer = services.customer_from_user(user=request.user)
        verification = services.phone_verification_start(
            customer=customer, phone=serializer.validated_data["phone"]
        )
        body = {
            "phone": verification.phone,
            "expires_at": verification.expires_at,
            "attempts_allowed": settings.PHONE_VERIFICATION_MAX_ATTEMPTS,
        }
        return Response(
            PhoneVerificationOutputSerializer(body).data, status=status.HTTP_202_ACCEPTED
        )


class PhoneVerificationConfirmView(APIView):
    permission_classes = [IsAuthenticated, IsCustomer]

    @extend_schema(
        summary="Confirm the code last sent: its number becomes the caller's phone, verified",
        request=PhoneCodeInputSerializer,
        responses={
            200: CustomerOutputSerializer,
            **_too_many(
                "`too_many_attempts`: the code took too many wrong codes and is dead; request a"
                " new one."
            ),
        },
        parameters=[retry_after_header],
        tags=["customers"],
    )
    def post(self, request: Request) -> Response:
        serializer = PhoneCodeInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        customer = services.customer_from_user(user=request.user)
        customer = services.phone_verification_confirm(
            customer=customer, code=serializer.validated_data["code"]
        )
        return Response(CustomerOutputSerializer(customer).data)
