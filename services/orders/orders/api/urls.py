from django.urls import path

from ecomms_common.routing import operations_path
from orders.api import views

urlpatterns = [
    *operations_path("orders/", [views.OrderListView, views.OrderPlaceView], name="order-list"),
    path("orders/<int:order_id>/", views.OrderDetailView.as_view(), name="order-detail"),
    path("orders/<int:order_id>/cancel/", views.OrderCancelView.as_view(), name="order-cancel"),
    path("orders/<int:order_id>/pay/", views.OrderPayView.as_view(), name="order-pay"),
    *operations_path(
        "customers/me/", [views.CustomerMeView, views.CustomerMeUpdateView], name="customer-me"
    ),
    path(
        "customers/me/phone/verification/",
        views.PhoneVerificationView.as_view(),
        name="customer-phone-verification",
    ),
    path(
        "customers/me/phone/verification/confirm/",
        views.PhoneVerificationConfirmView.as_view(),
        name="customer-phone-verification-confirm",
    ),
]
