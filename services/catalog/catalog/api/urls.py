from django.urls import path, register_converter

from catalog.api import views
from catalog.api.average_price import average_price


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
    path("categories/", views.CategoryCollectionView.as_view(), name="category-collection"),
    path(
        "categories/<category_slug:slug>/",
        views.CategoryDetailView.as_view(),
        name="category-detail",
    ),
    path(
        "categories/<category_slug:slug>/average_price/",
        average_price,
        name="category-average-price",
    ),
    path("products/", views.ProductListView.as_view(), name="product-list"),
    path("products/upload/", views.ProductUploadView.as_view(), name="product-upload"),
    path("products/lookup/", views.ProductLookupView.as_view(), name="product-lookup"),
    path("products/<int:product_id>/", views.ProductDetailView.as_view(), name="product-detail"),
]
