from django.urls import include, path, re_path
from gateway import proxy, views

from ecomms_common.urls import (  # noqa: F401 - Django looks the handlers up here
    handler400,
    handler403,
    handler404,
    handler500,
    ops_urlpatterns,
)

urlpatterns = [
    *ops_urlpatterns,
    re_path(r"^schema/(?P<service>catalog|orders)/$", proxy.upstream_schema, name="schema-of"),
    path("oidc/", include("mozilla_django_oidc.urls")),
    path("auth/token/", views.TokenForSessionView.as_view(), name="token"),
    path("auth/token/refresh/", views.TokenRefreshView.as_view(), name="token-refresh"),
    path("auth/logout/", views.LogoutView.as_view(), name="logout"),
    path("auth/login-failed/", views.login_failed, name="login-failed"),
    path(".well-known/jwks.json", views.JWKSView.as_view(), name="jwks"),
    re_path(r"^(?P<path>(?:products|categories)(?:/.*)?)$", proxy.catalog_proxy),
    re_path(r"^(?P<path>(?:orders|customers)(?:/.*)?)$", proxy.orders_proxy),
]
