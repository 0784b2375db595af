from django.urls import include, path
from gateway import docs, views

from ecomms_common.urls import (  # noqa: F401 - Django looks the handlers up here
    handler400,
    handler403,
    handler404,
    handler500,
    ops_urlpatterns,
)

urlpatterns = [
    # The gateway's /schema/ is the whole public API (its own paths and every service's).
    path("schema/", docs.AllServicesSchemaView.as_view(), name="schema"),
    *[pattern for pattern in ops_urlpatterns if pattern.name != "schema"],
    path("oidc/", include("mozilla_django_oidc.urls")),
    path("auth/token/", views.TokenForSessionView.as_view(), name="token"),
    path("auth/token/refresh/", views.TokenRefreshView.as_view(), name="token-refresh"),
    path("auth/logout/", views.LogoutView.as_view(), name="logout"),
    path("auth/login-failed/", views.login_failed, name="login-failed"),
    path(".well-known/jwks.json", views.JWKSView.as_view(), name="jwks"),
    # /products/..., /categories/..., /orders/..., /customers/... never get here: they are
    # served by the edge (gateway.edge, see config.asgi).
]
