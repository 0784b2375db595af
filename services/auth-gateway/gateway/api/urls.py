"""The gateway's own paths: the OIDC login, the token page, refresh, logout, metadata and keys."""

from django.urls import include, path

from gateway.api import views

metadata = views.AuthorizationServerMetadataView.as_view()

urlpatterns = [
    path("oidc/", include("mozilla_django_oidc.urls")),
    path("auth/token/", views.TokenForSessionView.as_view(), name="token"),
    path("auth/token/refresh/", views.TokenRefreshView.as_view(), name="token-refresh"),
    path("auth/logout/", views.LogoutView.as_view(), name="logout"),
    path("auth/login-failed/", views.login_failed, name="login-failed"),
    path(".well-known/jwks.json", views.JWKSView.as_view(), name="jwks"),
    # One metadata document under both names: RFC 8414's and OpenID Connect Discovery's.
    path(".well-known/oauth-authorization-server", metadata, name="oauth-authorization-server"),
    path(".well-known/openid-configuration", metadata, name="openid-configuration"),
]
