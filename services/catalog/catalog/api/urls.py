from django.urls import path

from catalog.api import views
from catalog.api.average_price import average_price

urlpatterns = [
    path("categories/", views.CategoryCollectionView.as_view(), name="category-collection"),
    path("categories/<str:slug>/", views.CategoryDetailView.as_view(), name="category-detail"),
    path(
        "categories/<str:slug>/average_price/",
        average_price,
        name="category-average-price",
    ),
    path("products/", views.ProductListView.as_view(), name="product-list"),
    path("products/upload/", views.ProductUploadView.as_view(), name="product-upload"),
    path("products/lookup/", views.ProductLookupView.as_view(), name="product-lookup"),
    path("products/<int:product_id>/", views.ProductDetailView.as_view(), name="product-detail"),
]
