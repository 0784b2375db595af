from django.conf import settings
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog import selectors, services
from catalog.api import serializers as io
from catalog.api.parsers import OrjsonParser
from catalog.models import Category, Product
from catalog.storage.memory import cyclic_gc_paused
from catalog.validation import (
    PATH_MAX_DEPTH,
    clean_path,
    path_json_schema,
    upload_json_schema,
    validate_upload,
)
from ecomms_common.auth import IsAdmin
from ecomms_common.openapi import (
    CursorPage,
    page_parameters,
    paginated,
    reject_unknown_fields,
)

LOOKUP_MAX_IDS = 200
_ID = r"[1-9][0-9]{0,17}"  # within a bigint
IDS_PATTERN = rf"^{_ID}(,{_ID}){{0,{LOOKUP_MAX_IDS - 1}}}$"


class _ReadPublicWriteAdmin(APIView):
    def get_permissions(self):
        if self.request.method in ("GET", "HEAD", "OPTIONS"):
            return [AllowAny()]
        return [IsAdmin()]


class CategoryCollectionView(_ReadPublicWriteAdmin):
    @extend_schema(
        operation_id="categories_tree",
        summary="The whole category tree",
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request: Request) -> Response:
        return Response({"categories": selectors.category_tree()})

    @extend_schema(
        summary="Create the missing categories of a path; return the leaf",
        request={
            "application/json": {
                "type": "object",
                "additionalProperties": False,
                "required": ["path"],
                "properties": {"path": path_json_schema()},
            }
        },
        responses={201: io.CategoryOutput, 200: io.CategoryOutput},
    )
    def post(self, request: Request) -> Response:
        if not isinstance(request.data, dict) or "path" not in request.data:
            raise ValidationError({"path": ["This field is required."]})
        reject_unknown_fields(request.data, ["path"])
        try:
            path = clean_path(request.data["path"])
        except ValueError as exc:
            raise ValidationError({"path": [str(exc)]}) from None
        leaf, created = services.category_create(path=path)
        return Response(
            io.CategoryOutput(leaf).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class CategoryDetailView(_ReadPublicWriteAdmin):
    @extend_schema(
        summary="A category with its ancestors and children", responses=io.CategoryDetailOutput
    )
    def get(self, request: Request, slug: str) -> Response:
        return Response(io.CategoryDetailOutput(get_object_or_404(Category, slug=slug)).data)

    @extend_schema(
        summary="Move a category (and its subtree) under another parent",
        request={
            "application/json": {
                "type": "object",
                "additionalProperties": False,
                "required": ["parent"],
                "properties": {
                    "parent": {
                        "type": "string",
                        "nullable": True,
                        "minLength": 1,
                        "pattern": r"^[^\x00]*$",
                        "description": "Slug of the new parent, or null to make it a root.",
                    }
                },
            }
        },
        responses=io.CategoryDetailOutput,
    )
    def patch(self, request: Request, slug: str) -> Response:
        category = get_object_or_404(Category, slug=slug)
        payload = io.CategoryMoveInput(data=request.data)
        payload.is_valid(raise_exception=True)
        parent_slug = payload.validated_data["parent"]
        parent = None
        if parent_slug is not None:
            parent = Category.objects.filter(slug=parent_slug).first()
            if parent is None:
                raise NotFound(f"No category has the slug {parent_slug!r}.")
            # The subtree keeps its shape: its deepest node must stay within the path limit.
            subtree_height = (
                max(node.level for node in category.get_descendants(include_self=True))
                - category.level
            )
            if parent.level + 1 + subtree_height >= PATH_MAX_DEPTH:
                raise ValidationError(
                    {
                        "parent": [
                            f"Moved there, the subtree would be more than {PATH_MAX_DEPTH}"
                            " levels deep."
                        ]
                    }
                )
        moved = services.category_move(category=category, parent=parent)
        return Response(io.CategoryDetailOutput(moved).data)


class ProductPagination(CursorPage):
    max_page_size = 500


class ProductListView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="products_list",
        summary="Products, optionally those in a category's subtree",
        parameters=[
            OpenApiParameter(
                "category",
                {"type": "string", "pattern": r"^[^\x00]*$"},
                description="Slug; includes descendants.",
            ),
            *page_parameters(ProductPagination),
        ],
        responses=paginated("ProductPage", io.ProductOutput(many=True)),
    )
    def get(self, request: Request) -> Response:
        category = None
        if slug := request.query_params.get("category"):
            if "\x00" in slug:
                raise ValidationError({"category": ["Must not contain the NUL character."]})
            category = Category.objects.filter(slug=slug).first()
            if category is None:
                raise NotFound(f"No category has the slug {slug!r}.")
        paginator = ProductPagination()
        page = paginator.paginate_queryset(
            selectors.product_list(category=category), request, view=self
        )
        return paginator.get_paginated_response(io.ProductOutput(page, many=True).data)


class ProductDetailView(_ReadPublicWriteAdmin):
    @extend_schema(summary="One product", responses=io.ProductOutput)
    def get(self, request: Request, product_id: int) -> Response:
        product = get_object_or_404(Product.objects.prefetch_related("categories"), pk=product_id)
        return Response(io.ProductOutput(product).data)

    @extend_schema(summary="Delete a product", responses={204: None})
    def delete(self, request: Request, product_id: int) -> Response:
        services.product_delete(product=get_object_or_404(Product, pk=product_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


def _is_positive_integer(text: str) -> bool:
    """Return whether ``text`` is an id a bigint column can hold."""
    return text.isascii() and text.isdigit() and 0 < int(text) < 2**63


class ProductLookupView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        summary=f"Current name, price and currency of up to {LOOKUP_MAX_IDS} products",
        parameters=[
            OpenApiParameter(
                "ids",
                {"type": "string", "pattern": IDS_PATTERN},
                required=True,
                description="Comma-separated product ids, e.g. 10,15,99.",
            )
        ],
        responses=io.ProductLookupOutput,
    )
    def get(self, request: Request) -> Response:
        raw = request.query_params.get("ids", "")
        parts = raw.split(",") if raw else []
        if not parts or not all(_is_positive_integer(part) for part in parts):
            raise ValidationError(
                {"ids": ["Give comma-separated positive integer ids, e.g. ids=10,15."]}
            )
        if len(parts) > LOOKUP_MAX_IDS:
            raise ValidationError({"ids": [f"At most {LOOKUP_MAX_IDS} ids per call."]})
        products, missing = selectors.product_lookup(
            ids=list(dict.fromkeys(int(part) for part in parts))
        )
        return Response(io.ProductLookupOutput({"products": products, "missing": missing}).data)


class ProductUploadView(APIView):
    permission_classes = [IsAdmin]
    parser_classes = [OrjsonParser]

    @extend_schema(
        summary="Create or update products (upsert by sku) and their category paths",
        request={
            "application/json": upload_json_schema(
                max_products=settings.CATALOG_MAX_UPLOAD_PRODUCTS
            )
        },
        responses={201: io.UploadOutput},
    )
    def post(self, request: Request) -> Response:
        with cyclic_gc_paused():
            products = validate_upload(
                request.data,
                max_products=settings.CATALOG_MAX_UPLOAD_PRODUCTS,
                default_currency=settings.CATALOG_DEFAULT_CURRENCY,
            )
            result = services.products_upload(products=products)
        body = {
            "created": result.created_ids,
            "updated": result.updated_ids,
            "categories_created": result.categories_created,
        }
        return Response(body, status=status.HTTP_201_CREATED)
