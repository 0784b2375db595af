"""Tokens that die on logout, on an account disabled, and when a spent refresh token is reused;
a token page that issues a login's pair once. Every wait is bounded; none is measured."""

import time

import pytest
from django.core.management import call_command
from django.test import Client, RequestFactory
from gateway.identity.authentication import bearer_claims
from gateway.identity.revocation import denied_tokens
from gateway.models import User
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from ecomms_common.auth import InvalidToken

pytestmark = pytest.mark.django_db

# Upper bound of any wait for a denial to reach the edge (it checks every 0.5 s).
PATIENCE_SECONDS = 10


def proxied_status(gateway, access: str) -> int:
    return gateway.get("/products/", HTTP_AUTHORIZATION=f"Bearer {access}").status_code


def refused_within_patience(gateway, access: str) -> dict:
    stop = time.monotonic() + PATIENCE_SECONDS
    while time.monotonic() < stop:
        response = gateway.get("/products/", HTTP_AUTHORIZATION=f"Bearer {access}")
        if response.status_code == 401:
            return response.json()["error"]
        time.sleep(0.05)
    raise AssertionError(f"the token still passed after {PATIENCE_SECONDS} s")


def refresh(client: Client, token: str):
    return client.post("/auth/token/refresh/", {"refresh": token}, content_type="application/json")


def test_logout_denies_the_access_tokens_issued_before_it_and_revokes_every_refresh_token(
    gateway, catalog, token_pair, make_user
) -> None:
    user = make_user()
    phone, laptop = token_pair(user), token_pair(user)
    other = token_pair()  # another account: untouched
    assert proxied_status(gateway, phone.access) == 200
    response = Client().post(
        "/auth/logout/", {"refresh": phone.refresh}, content_type="application/json"
    )
    assert response.status_code == 204
    for access in (phone.access, laptop.access):
        error = refused_within_patience(gateway, access)
        assert error["code"] == "token_revoked"
    assert refresh(Client(), laptop.refresh).status_code == 401
    assert proxied_status(gateway, other.access) == 200
    assert refresh(Client(), other.refresh).status_code == 200
    # A new login after the logout gets tokens that work.
    assert proxied_status(gateway, token_pair(user).access) == 200


def test_the_gateways_own_views_refuse_a_denied_token_too(token_pair, make_user) -> None:
    user = make_user()
    pair = token_pair(user)
    request = RequestFactory().get("/", HTTP_AUTHORIZATION=f"Bearer {pair.access}")
    assert bearer_claims(request)["jti"]
    Client().post("/auth/logout/", {"refresh": pair.refresh}, content_type="application/json")
    denied_tokens.forget_version()
    with pytest.raises(InvalidToken) as refused:
        bearer_claims(RequestFactory().get("/", HTTP_AUTHORIZATION=f"Bearer {pair.access}"))
    assert refused.value.get_codes() == "token_revoked"


def test_a_reused_refresh_token_revokes_its_whole_family(gateway, catalog, token_pair, make_user):
    user = make_user()
    first = token_pair(user)
    elsewhere = token_pair(user)  # another login of the same account: another family
    second = refresh(Client(), first.refresh).json()
    third = refresh(Client(), second["refresh"]).json()

    reused = refresh(Client(), first.refresh)  # someone else held the first one
    assert reused.status_code == 401
    assert reused.json()["error"]["code"] == "refresh_token_revoked"
    assert refresh(Client(), third["refresh"]).status_code == 401
    assert refused_within_patience(gateway, third["access"])["code"] == "token_revoked"
    assert refresh(Client(), elsewhere.refresh).status_code == 200


def test_a_disabled_account_loses_its_tokens_and_can_be_enabled_again(
    gateway, catalog, token_pair, make_user
) -> None:
    user = make_user(sub="to-disable")
    pair = token_pair(user)
    call_command("disable_account", "to-disable")
    assert not User.objects.get(pk=user.pk).is_active
    assert refused_within_patience(gateway, pair.access)["code"] == "token_revoked"
    assert refresh(Client(), pair.refresh).status_code == 401
    call_command("disable_account", "to-disable", "--enable")
    assert proxied_status(gateway, token_pair(User.objects.get(pk=user.pk)).access) == 200


def test_logout_with_the_token_store_down_is_a_503_and_revokes_nothing(
    settings, token_pair, make_user
) -> None:
    user = make_user()
    pair = token_pair(user)
    settings.RATE_LIMIT_STORE_URL = "redis://127.0.0.1:1/0"
    response = Client().post(
        "/auth/logout/", {"refresh": pair.refresh}, content_type="application/json"
    )
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "revocation_unavailable"
    settings.RATE_LIMIT_STORE_URL = "redis://127.0.0.1:6379/0"
    assert refresh(Client(), pair.refresh).status_code == 200


def test_the_token_page_issues_a_logins_pair_once(client, login) -> None:
    login(client, "page-once", email="once@example.com")
    first = client.get("/auth/token/", HTTP_ACCEPT="text/html")
    assert first.status_code == 200
    assert "Access token" in first.content.decode()
    issued = OutstandingToken.objects.count()
    again = client.get("/auth/token/", HTTP_ACCEPT="text/html")
    assert again.status_code == 409
    assert "Tokens already shown" in again.content.decode()
    as_json = client.get("/auth/token/", HTTP_ACCEPT="application/json")
    assert as_json.json()["error"]["code"] == "tokens_already_issued"
    assert OutstandingToken.objects.count() == issued
    for page in (first, again):
        assert page["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in page["Content-Security-Policy"]
        assert "script-src" not in page["Content-Security-Policy"]
