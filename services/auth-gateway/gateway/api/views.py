"""The gateway's own endpoints: its metadata and public keys, and tokens for a logged-in user."""

from typing import Any

from django.conf import settings
from django.contrib import auth
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from drf_spectacular.utils import extend_schema, extend_schema_serializer, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ecomms_common.auth import TOKEN_TYP
from ecomms_common.errors import error_response
from ecomms_common.openapi import StrictCharField, StrictSerializer
from gateway.api.pages import page_headers, wants_json
from gateway.identity.keys import ALGORITHM, key_ring
from gateway.identity.oidc import TOKENS_PENDING_SESSION_KEY, LoginFailed, login_failure_response
from gateway.identity.revocation import RevocationUnavailable
from gateway.services import token_logout, token_pair_issue, token_refresh

_token_pair = inline_serializer(
    "TokenPair",
    {
        "access": serializers.CharField(),
        "refresh": serializers.CharField(),
        "token_type": serializers.CharField(),
        "expires_in": serializers.IntegerField(),
    },
)


_metadata = inline_serializer(
    "AuthorizationServerMetadata",
    {
        "issuer": serializers.CharField(),
        "jwks_uri": serializers.CharField(),
        "authorization_endpoint": serializers.CharField(),
        "token_endpoint": serializers.CharField(),
        "token_refresh_endpoint": serializers.CharField(),
        "logout_endpoint": serializers.CharField(),
        "grant_types_supported": serializers.ListField(child=serializers.CharField()),
        "token_endpoint_auth_methods_supported": serializers.ListField(
            child=serializers.CharField()
        ),
        "scopes_supported": serializers.ListField(child=serializers.CharField()),
        "access_token_signing_alg_values_supported": serializers.ListField(
            child=serializers.CharField()
        ),
        "access_token_typ": serializers.CharField(),
        "access_token_audience": serializers.CharField(),
        "service_documentation": serializers.CharField(),
    },
)


def authorization_server_metadata() -> dict[str, Any]:
    """Return the gateway's RFC 8414 metadata: where its keys and token endpoints are."""
    issuer = settings.JWT_ISSUER
    base = issuer.rstrip("/")
    return {
        "issuer": issuer,
        "jwks_uri": f"{base}/.well-known/jwks.json",
        # A browser starts its login here (the provider's login, then the token page).
        "authorization_endpoint": f"{base}{settings.LOGIN_URL}",
        "token_endpoint": f"{base}/auth/token/",
        # Beside RFC 8414's fields, ours: refresh and logout take {"refresh": ...} as JSON.
        "token_refresh_endpoint": f"{base}/auth/token/refresh/",
        "logout_endpoint": f"{base}/auth/logout/",
        "grant_types_supported": ["refresh_token"],
        "token_endpoint_auth_methods_supported": ["none"],
        "scopes_supported": [settings.JWT_SCOPE],
        "access_token_signing_alg_values_supported": [ALGORITHM],
        "access_token_typ": TOKEN_TYP["access"],
        "access_token_audience": settings.JWT_AUDIENCE,
        "service_documentation": f"{base}/docs/",
    }


class AuthorizationServerMetadataView(APIView):
    """RFC 8414 metadata; the same document at /.well-known/openid-configuration."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        summary="The gateway's authorization server metadata (RFC 8414): issuer, JWKS, "
        "token endpoints, algorithms",
        responses={200: _metadata},
        tags=["auth"],
    )
    def get(self, request: Request) -> Response:
        response = Response(authorization_server_metadata())
        response["Cache-Control"] = "public, max-age=300"
        return response


class JWKSView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(summary="The public keys that verify the gateway's tokens", tags=["auth"])
    def get(self, request: Request) -> Response:
        response = Response(key_ring().jwks())
        response["Cache-Control"] = "public, max-age=300"
        return response


@method_decorator(never_cache, name="dispatch")
class TokenForSessionView(View):
    """Show the logged-in browser user the pair issued for this login, once (a page, or JSON).

    The login callback marks the session; the first load issues the pair and clears the mark, so
    reloading the page (or a prefetch, or another tab) mints nothing: it says the pair was shown
    and how to get another (refresh it, or log in again). ``POST`` (with the CSRF token) issues a
    new pair on purpose.
    """

    def get(self, request: HttpRequest) -> HttpResponse:
        if not request.user.is_authenticated:
            if wants_json(request):
                return _login_required()
            return redirect(f"{settings.LOGIN_URL}?next={request.path}")
        context = {"user": request.user, "origin": request.build_absolute_uri("/")[:-1]}
        if request.session.pop(TOKENS_PENDING_SESSION_KEY, False):
            try:
                pair = token_pair_issue(user=request.user)
            except RevocationUnavailable as exc:
                request.session[TOKENS_PENDING_SESSION_KEY] = True  # a reload may try again
                return _unavailable(exc)
            if wants_json(request):
                return JsonResponse(pair.as_dict())
            return page_headers(render(request, "gateway/token.html", {**context, "pair": pair}))
        if wants_json(request):
            return error_response(
                409,
                "tokens_already_issued",
                "The tokens of this login were shown once already: refresh them with "
                "POST /auth/token/refresh/, POST here for a new pair, or log in again.",
            )
        return page_headers(render(request, "gateway/token.html", context, status=409))

    @method_decorator(csrf_protect)
    def post(self, request: HttpRequest) -> HttpResponse:
        if not request.user.is_authenticated:
            return _login_required()
        try:
            return JsonResponse(token_pair_issue(user=request.user).as_dict())
        except RevocationUnavailable as exc:
            return _unavailable(exc)


def _unavailable(exc: RevocationUnavailable) -> HttpResponse:
    return error_response(exc.status_code, exc.default_code, str(exc.detail))


def _login_required() -> HttpResponse:
    return error_response(
        401, "not_authenticated", "Log in first: GET /oidc/authenticate/ in a browser."
    )


class RefreshTokenView(APIView):
    """Base of the views a refresh token is posted to: a bad token is a 401, not a 403."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema_serializer(component_name="RefreshInput")
    class InputSerializer(StrictSerializer):
        # Not trimmed: a token of spaces is a bad token (401), as the schema's string allows.
        refresh = StrictCharField(trim_whitespace=False)

    def get_authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="ecomms"'

    def refresh_token(self, request: Request) -> str:
        """The refresh token posted (a 400 naming the field when there is none)."""
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data["refresh"]


class TokenRefreshView(RefreshTokenView):
    @extend_schema(
        summary="Spend a refresh token on a new pair (each refresh token works once)",
        request=RefreshTokenView.InputSerializer,
        responses={200: _token_pair},
        tags=["auth"],
    )
    def post(self, request: Request) -> Response:
        pair = token_refresh(refresh=self.refresh_token(request))
        return Response(pair.as_dict(), headers={"Cache-Control": "no-store"})


class LogoutView(RefreshTokenView):
    @extend_schema(
        summary="Log the account out everywhere: revoke its refresh tokens, deny its access "
        "tokens (within a second at every gateway), end the browser session",
        request=RefreshTokenView.InputSerializer,
        responses={204: None},
        tags=["auth"],
    )
    def post(self, request: Request) -> Response:
        token_logout(refresh=self.refresh_token(request))
        auth.logout(request._request)
        return Response(status=204)


def login_failed(request: HttpRequest, *args: Any) -> HttpResponse:
    """Where a failed login lands when no more is known (the library's failure redirect)."""
    return login_failure_response(request, LoginFailed())
