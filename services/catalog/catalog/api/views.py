from typing import Any

import orjson
from django.conf import settings
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from catalog import selectors, services
from catalog.api import serializers as io
from catalog.api.caching import CachedReadMixin
from catalog.api.pagination import (
    DEFAULT_SORT,
    MAX_PAGE_SIZE,
    PAGE_SIZE,
    SORTS,
    page_links,
    page_request,
)
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
TREE_DEFAULT_DEPTH = 2
EXPORT_PAGE_SIZE, EXPORT_MAX_PAGE_SIZE = 5000, 20_000


class CategoryTreeView(CachedReadMixin, APIView):
    permission_classes = [AllowAny]

    class Input(serializers.Serializer):
        depth = io.QueryIntegerField(
            min_value=1,
            max_value=PATH_MAX_DEPTH,
            default=TREE_DEFAULT_DEPTH,
            help_text=f"Levels from the roots down, 1-{PATH_MAX_DEPTH}.",
        )

    class Node(serializers.Serializer):
        name = serializers.CharField()
        slug = serializers.CharField()
        level = serializers.IntegerField()
        descendant_count = serializers.IntegerField()
        children = serializers.ListField(
            child=serializers.DictField(), help_text="Nodes of the next level, by name."
        )

    class Output(serializers.Serializer):
        categories = serializers.ListField(child=serializers.DictField())

    @extend_schema(
        operation_id="categories_tree",
        summary="The top levels of the category tree",
        description=(
            f"Every root and its descendants down to `depth` levels (default {TREE_DEFAULT_DEPTH}"
            "), nested, siblings by name; `descendant_count` says what lies below. Walk down with "
            "`/categories/{slug}/children/`; `/categories/export/` streams every category."
        ),
        parameters=[Input],
        responses=inline_serializer("CategoryTree", {"categories": Node(many=True)}),
    )
    def get(self, request: Request) -> Response:
        query = self.Input(data=request.query_params)
        query.is_valid(raise_exception=True)
        return Response(
            {"categories": selectors.category_top_levels(depth=query.validated_data["depth"])}
        )


class CategoryCreateView(APIView):
    permission_classes = [IsAdmin]

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


class CategoryDetailView(CachedReadMixin, APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        summary="A category with its ancestors and children", responses=io.CategoryDetailOutput
    )
    def get(self, request: Request, slug: str) -> Response:
        return Response(io.CategoryDetailOutput(get_object_or_404(Category, slug=slug)).data)


class CategoryMoveView(APIView):
    permission_classes = [IsAdmin]

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


class ChildrenPagination(CursorPage):
    """Siblings by name in any case (unique among siblings), 100 a page."""

    ordering = "name_key"
    page_size = 100

    def decode_cursor(self, request: Any) -> Any:
        cursor = CursorPagination.decode_cursor(self, request)
        if cursor is not None and cursor.position is not None and "\x00" in cursor.position:
            raise NotFound(self.invalid_cursor_message)
        return cursor


class CategoryChildrenView(CachedReadMixin, APIView):
    permission_classes = [AllowAny]

    class Output(serializers.Serializer):
        name = serializers.CharField()
        slug = serializers.CharField()
        level = serializers.IntegerField()
        descendant_count = serializers.IntegerField(
            help_text="Categories below this one, at any depth."
        )

    @extend_schema(
        operation_id="categories_children",
        summary="The children of a category, by name",
        parameters=page_parameters(ChildrenPagination),
        responses=paginated("CategoryChildrenPage", Output(many=True)),
    )
    def get(self, request: Request, slug: str) -> Response:
        category_id = selectors.category_id_by_slug(slug=slug)
        if category_id is None:
            raise NotFound(f"No category has the slug {slug!r}.")
        paginator = ChildrenPagination()
        children = paginator.paginate_queryset(
            selectors.category_children(category_id=category_id), request, view=self
        )
        return paginator.get_paginated_response(
            self.Output(
                [
                    {
                        "name": child.name,
                        "slug": child.slug,
                        "level": child.level,
                        "descendant_count": child.get_descendant_count(),
                    }
                    for child in children
                ],
                many=True,
            ).data
        )


class CategoryExportView(APIView):
    permission_classes = [AllowAny]

    class Input(serializers.Serializer):
        after = io.QueryIntegerField(
            min_value=0, max_value=2**63 - 1, default=0, help_text="The last id already read."
        )
        page_size = io.QueryIntegerField(
            min_value=1, max_value=EXPORT_MAX_PAGE_SIZE, default=EXPORT_PAGE_SIZE
        )

    @extend_schema(
        operation_id="categories_export",
        summary="Every category, streamed as JSON lines, by id",
        description=(
            'One JSON object a line: `{"id", "name", "slug", "parent" (slug or null), '
            '"level"}`, in id order. When more follow, the `Link` header names the next page '
            '(`rel="next"`, `?after=<last id>`).'
        ),
        parameters=[Input],
        responses={
            (200, "application/x-ndjson"): OpenApiResponse(
                OpenApiTypes.STR, description="JSON lines."
            )
        },
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        query = self.Input(data=request.query_params)
        query.is_valid(raise_exception=True)
        rows, last_id = selectors.category_export(
            after_id=query.validated_data["after"], size=query.validated_data["page_size"]
        )
        lines = (
            orjson.dumps({"id": pk, "name": name, "slug": slug, "parent": parent, "level": level})
            + b"\n"
            for pk, name, slug, parent, level in rows
        )
        response = StreamingHttpResponse(lines, content_type="application/x-ndjson")
        if last_id is not None:
            following = replace_query_param(request.build_absolute_uri(), "after", last_id)
            response["Link"] = f'<{following}>; rel="next"'
        return response


class ProductListView(CachedReadMixin, APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="products_list",
        summary="Products, optionally those in a category's subtree",
        description=(
            "Keyset pages: follow `next` and `previous`. `sort` is `newest` (the default: most "
            "recently added first, by id descending), `price` (cheapest first) or `-price`, ties "
            "by id in the same direction. New products never shift the pages after the first."
        ),
        parameters=[
            OpenApiParameter(
                "category",
                {"type": "string", "pattern": r"^[^\x00]*$"},
                description="Slug; includes descendants, each product once.",
            ),
            OpenApiParameter(
                "sort",
                {"type": "string", "enum": list(SORTS)},
                description=f"Default {DEFAULT_SORT}.",
            ),
            OpenApiParameter(
                "cursor", str, description="Opaque: follow `next` or `previous`, never build it."
            ),
            OpenApiParameter(
                "page_size",
                {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
                description=f"Default {PAGE_SIZE}.",
            ),
        ],
        responses=paginated("ProductPage", io.ProductOutput(many=True)),
    )
    def get(self, request: Request) -> Response:
        category_id = None
        if slug := request.query_params.get("category"):
            if "\x00" in slug:
                raise ValidationError({"category": ["Must not contain the NUL character."]})
            category_id = selectors.category_id_by_slug(slug=slug)
            if category_id is None:
                raise NotFound(f"No category has the slug {slug!r}.")
        page = page_request(request.query_params)
        rows, more = selectors.product_page(
            category_id=category_id,
            order=page.order,
            after=page.after,
            backwards=page.backwards,
            size=page.size,
        )
        following, previous = page_links(request, page, rows, more)
        return Response(
            {
                "next": following,
                "previous": previous,
                "results": [io.product_representation(row) for row in rows],
            }
        )


class ProductDetailView(CachedReadMixin, APIView):
    permission_classes = [AllowAny]

    @extend_schema(summary="One product", responses=io.ProductOutput)
    def get(self, request: Request, product_id: int) -> Response:
        row = selectors.product_detail(product_id=product_id)
        if row is None:
            raise NotFound("No Product matches the given query.")
        return Response(io.product_representation(row))


class ProductDeleteView(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(summary="Delete a product", responses={204: None})
    def delete(self, request: Request, product_id: int) -> Response:
        services.product_delete(product=get_object_or_404(Product, pk=product_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


def _is_positive_integer(text: str) -> bool:
    """Return whether ``text`` is an id a bigint column can hold."""
    return text.isascii() and text.isdigit() and 0 < int(text) < 2**63


class ProductLookupView(CachedReadMixin, APIView):
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
