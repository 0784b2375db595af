from django.urls import path

from orders.api import views

urlpatterns = [
    path("orders/", views.OrderListCreateView.as_view(), name="order-list"),
    path("orders/<int:order_id>/", views.OrderDetailView.as_view(), name="order-detail"),
    path("orders/<int:order_id>/cancel/", views.OrderCancelView.as_view(), name="order-cancel"),
    path("orders/<int:order_id>/pay/", views.OrderPayView.as_view(), name="order-pay"),
    path("customers/me/", views.CustomerMeView.as_view(), name="customer-me"),
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
