"""One view per operation: parse the input, call one service or selector, render the output.

Each view holds its own input and output serializers; an order and a customer render the same
everywhere (``orders.api.serializers``). Component names are given where a nested serializer
is documented, so that the OpenAPI schema names them as clients know them.
"""

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import DataError
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_serializer,
)
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ecomms_common.auth import IsAdmin, IsCustomer
from ecomms_common.errors import ServiceError, sqlstate
from ecomms_common.openapi import (
    CursorPage,
    QueryParameters,
    StrictCharField,
    StrictSerializer,
    error_responses,
    page_parameters,
    paginated,
)
from orders import selectors, services
from orders.api.idempotency import idempotency_parameter, idempotent_create
from orders.api.serializers import (
    CURRENCY_RE,
    MAX_PRODUCT_ID,
    CustomerOutputSerializer,
    MobileNumberField,
    OrderOutputSerializer,
    PersonNameField,
    PhoneNumberField,
    StrictIntegerField,
)
from orders.models import Order, OrderStatus


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


def _visible_order(request: Request, order_id: int) -> Order:
    order = selectors.order_get(user=request.user, order_id=order_id)
    if order is None:
        raise exceptions.NotFound("No such order.")
    return order


# Orders


class OrderListView(APIView):
    permission_classes = [IsAuthenticated]

    class FilterSerializer(QueryParameters):
        """Query parameters of ``GET /orders/`` (``customer`` counts for admins only)."""

        # A provider's subject, matched exactly: not trimmed, so that its length is the one the
        # schema limits (a value padded past 255 characters is a 400, not trimmed into range).
        customer = serializers.CharField(required=False, max_length=255, trim_whitespace=False)
        status = serializers.ChoiceField(choices=OrderStatus.choices, required=False)

        def to_internal_value(self, data: Any) -> dict[str, Any]:
            # DRF reads an empty query parameter as absent; a filter given empty is a mistake.
            empty = {name: ["Must not be empty."] for name in self.fields if data.get(name) == ""}
            if empty:
                raise serializers.ValidationError(empty)
            return super().to_internal_value(data)

    OutputSerializer = OrderOutputSerializer

    @extend_schema(
        operation_id="orders_list",
        summary="List orders, newest first (a customer's own; all for an admin)",
        parameters=[FilterSerializer, *page_parameters(OrderPagination)],
        responses={200: paginated("OrderPage", OutputSerializer(many=True))},
        tags=["orders"],
    )
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        orders = selectors.order_list(
            user=request.user,
            customer_sub=filters.validated_data.get("customer"),
            status=filters.validated_data.get("status"),
        )
        paginator = OrderPagination()
        page = paginator.paginate_queryset(orders, request, view=self)
        return paginator.get_paginated_response(self.OutputSerializer(page, many=True).data)


class OrderPlaceView(APIView):
    permission_classes = [IsAuthenticated, IsCustomer]

    @extend_schema_serializer(component_name="OrderLineInput")
    class LineSerializer(StrictSerializer):
        product_id = StrictIntegerField(min_value=1, max_value=MAX_PRODUCT_ID)
        quantity = StrictIntegerField(min_value=1)

        def __init__(self, *args: Any, **kwargs: Any):
            super().__init__(*args, **kwargs)
            # The limit is a setting: build the bound field with it, not at import time.
            self.fields["quantity"] = StrictIntegerField(
                min_value=1, max_value=settings.ORDER_MAX_QUANTITY
            )

    @extend_schema_serializer(component_name="OrderPlaceInput")
    class InputSerializer(StrictSerializer):
        """``{"items": [{"product_id", "quantity"}], "currency"}``; any other field is a 400."""

        items = serializers.ListField()  # built in __init__; declared here for the field order
        currency = serializers.RegexField(
            CURRENCY_RE, error_messages={"invalid": "An ISO 4217 code in capitals, e.g. USD."}
        )

        def __init__(self, *args: Any, **kwargs: Any):
            super().__init__(*args, **kwargs)
            # The limit is a setting: build the bound field with it (the schema shows it too).
            self.fields["items"] = serializers.ListField(
                child=OrderPlaceView.LineSerializer(),
                allow_empty=False,
                min_length=1,
                max_length=settings.ORDER_MAX_ITEMS,
            )

        def to_internal_value(self, data: Any) -> dict[str, Any]:
            # Count the items before checking each one: a long list is refused at once.
            items = data.get("items") if isinstance(data, dict) else None
            limit = settings.ORDER_MAX_ITEMS
            if isinstance(items, list) and len(items) > limit:
                raise serializers.ValidationError({"items": [f"At most {limit} items per order."]})
            return super().to_internal_value(data)

        def validate_items(self, items: list[dict[str, int]]) -> list[dict[str, int]]:
            counts = Counter(item["product_id"] for item in items)
            repeated = sorted(product_id for product_id, count in counts.items() if count > 1)
            if repeated:
                raise serializers.ValidationError(
                    f"Each product may appear once; repeated: {', '.join(map(str, repeated))}."
                    " Put the total quantity on one line."
                )
            return items

    OutputSerializer = OrderOutputSerializer

    @extend_schema(
        summary="Place an order at the catalog's current prices",
        request=InputSerializer,
        responses={201: OutputSerializer, **error_responses(422, 502)},
        parameters=[idempotency_parameter],
        tags=["orders"],
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        customer = services.customer_from_user(user=request.user)
        items = [services.OrderLine(**line) for line in serializer.validated_data["items"]]
        currency = serializer.validated_data["currency"]
        with _amounts_fit():
            return idempotent_create(
                request,
                customer=customer,
                write=lambda: services.order_place(
                    customer=customer, items=items, currency=currency
                ),
                render=lambda order: self.OutputSerializer(order).data,
            )


class OrderDetailView(APIView):
    permission_classes = [IsAuthenticated]
    OutputSerializer = OrderOutputSerializer

    @extend_schema(
        summary="One order (own, or any for an admin)",
        responses={200: OutputSerializer},
        tags=["orders"],
    )
    def get(self, request: Request, order_id: int) -> Response:
        return Response(self.OutputSerializer(_visible_order(request, order_id)).data)


class OrderCancelView(APIView):
    permission_classes = [IsAuthenticated]
    OutputSerializer = OrderOutputSerializer

    @extend_schema(
        summary="Cancel a PENDING order (its owner, or an admin)",
        request=None,
        responses={200: OutputSerializer, **error_responses(409)},
        tags=["orders"],
    )
    def post(self, request: Request, order_id: int) -> Response:
        order = _visible_order(request, order_id)
        changed_by = "admin" if request.user.is_admin else "customer"
        order = services.order_cancel(order=order, changed_by=changed_by)
        return Response(self.OutputSerializer(order).data)


class OrderPayView(APIView):
    permission_classes = [IsAuthenticated, IsAdmin]
    OutputSerializer = OrderOutputSerializer

    @extend_schema(
        summary="Mark a PENDING order as paid (admin)",
        request=None,
        responses={200: OutputSerializer, **error_responses(409)},
        tags=["orders"],
    )
    def post(self, request: Request, order_id: int) -> Response:
        order = services.order_mark_paid(order=_visible_order(request, order_id))
        return Response(self.OutputSerializer(order).data)


# Customers


class CustomerMeView(APIView):
    permission_classes = [IsAuthenticated, IsCustomer]
    OutputSerializer = CustomerOutputSerializer

    @extend_schema(
        summary="The caller's customer profile",
        responses={200: OutputSerializer},
        tags=["customers"],
    )
    def get(self, request: Request) -> Response:
        customer = services.customer_from_user(user=request.user)
        return Response(self.OutputSerializer(customer).data)


class CustomerMeUpdateView(APIView):
    permission_classes = [IsAuthenticated, IsCustomer]

    @extend_schema_serializer(component_name="CustomerInput")
    class InputSerializer(StrictSerializer):
        full_name = PersonNameField(max_length=255, allow_blank=True, required=False)
        phone = PhoneNumberField(max_length=32, allow_blank=True, allow_null=True, required=False)

    OutputSerializer = CustomerOutputSerializer

    @extend_schema(
        summary="Set the caller's full name; clear their phone (a new number needs its code)",
        request=InputSerializer,
        responses={200: OutputSerializer},
        tags=["customers"],
    )
    def patch(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        customer = services.customer_from_user(user=request.user)
        customer = services.customer_update(customer=customer, **serializer.validated_data)
        return Response(self.OutputSerializer(customer).data)


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

    @extend_schema_serializer(component_name="PhoneVerificationInput")
    class InputSerializer(StrictSerializer):
        """``{"phone": "+254712345678"}``: the mobile number to send a code to."""

        phone = MobileNumberField(max_length=32)

    @extend_schema_serializer(component_name="PhoneVerificationOutput")
    class OutputSerializer(serializers.Serializer):
        phone = serializers.CharField(help_text="The number the code is sent to, in E.164 form.")
        expires_at = serializers.DateTimeField(help_text="The code cannot be confirmed after this.")
        attempts_allowed = serializers.IntegerField(
            help_text="Wrong codes before the code is dead."
        )

    @extend_schema(
        summary="Text a one-time code to a mobile number (confirmed, it is the caller's phone)",
        request=InputSerializer,
        responses={
            202: OutputSerializer,
            **_too_many(
                "`too_many_codes`: the caller, or the number, has had its codes for the window."
            ),
        },
        parameters=[retry_after_header],
        tags=["customers"],
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
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
        return Response(self.OutputSerializer(body).data, status=status.HTTP_202_ACCEPTED)


class PhoneVerificationConfirmView(APIView):
    permission_classes = [IsAuthenticated, IsCustomer]

    @extend_schema_serializer(component_name="PhoneCodeInput")
    class InputSerializer(StrictSerializer):
        """``{"code": "123456"}``: the code the SMS brought."""

        code = StrictCharField(
            validators=[
                RegexValidator(r"^[0-9]{6}$", message='The six digits of the code, e.g. "123456".')
            ]
        )

    OutputSerializer = CustomerOutputSerializer

    @extend_schema(
        summary="Confirm the code last sent: its number becomes the caller's phone, verified",
        request=InputSerializer,
        responses={
            200: OutputSerializer,
            **_too_many(
                "`too_many_attempts`: the code took too many wrong codes and is dead; request a"
                " new one."
            ),
        },
        parameters=[retry_after_header],
        tags=["customers"],
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        customer = services.customer_from_user(user=request.user)
        customer = services.phone_verification_confirm(
            customer=customer, code=serializer.validated_data["code"]
        )
        return Response(self.OutputSerializer(customer).data)
