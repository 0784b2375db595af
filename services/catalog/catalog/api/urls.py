from django.urls import path, register_converter

from catalog.api import views
from catalog.api.average_price import average_price
from ecomms_common.routing import operations_path


class SlugConverter:
    """Any slug the catalog may have made (letters of any script): no slash, no NUL.

    PostgreSQL text cannot hold NUL, so such a path is a 404 without asking the database.
    """

    regex = r"[^/\x00]+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(SlugConverter, "category_slug")

urlpatterns = [
    *operations_path(
        "categories/",
        [views.CategoryTreeView, views.CategoryCreateView],
        name="category-collection",
    ),
    # before the slug's path: "export" is never a slug (catalog.tree.RESERVED_SLUGS)
    path("categories/export/", views.CategoryExportView.as_view(), name="category-export"),
    *operations_path(
        "categories/<category_slug:slug>/",
        [views.CategoryDetailView, views.CategoryMoveView],
        name="category-detail",
    ),
    path(
        "categories/<category_slug:slug>/children/",
        views.CategoryChildrenView.as_view(),
        name="category-children",
    ),
    path(
        "categories/<category_slug:slug>/average_price/",
        average_price,
        name="category-average-price",
    ),
    path("products/", views.ProductListView.as_view(), name="product-list"),
    path("products/upload/", views.ProductUploadView.as_view(), name="product-upload"),
    path("products/lookup/", views.ProductLookupView.as_view(), name="product-lookup"),
    *operations_path(
        "products/<int:product_id>/",
        [views.ProductDetailView, views.ProductDeleteView],
        name="product-detail",
    ),
]
