import re
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.test import Client
from gateway.models import User

from tests.conftest import CLIENT_ID, finish_login, start_login

pytestmark = pytest.mark.django_db


def session_user_id(client: Client) -> str | None:
    return client.session.get("_auth_user_id")


def test_login_creates_a_user_linked_to_the_provider_subject(client, login) -> None:
    response = login(
        client, "alice-sub", email="alice@example.com", email_verified=True, name="Alice A"
    )
    assert response.status_code == 302
    assert response["Location"] == "/auth/token/"
    user = User.objects.get(oidc_sub="alice-sub")
    assert (user.email, user.name, user.email_verified) == ("alice@example.com", "Alice A", True)
    assert session_user_id(client) == str(user.pk)


def test_authorization_request_uses_pkce_state_and_nonce(client, provider) -> None:
    query = parse_qs(urlsplit(start_login(client)).query)
    assert query["client_id"] == [CLIENT_ID]
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["code_challenge"][0]) >= 43
    assert query["state"] and query["nonce"]
    assert query["redirect_uri"] == ["http://testserver/oidc/callback/"]


def test_next_login_refreshes_profile_on_the_same_user(client, login) -> None:
    login(client, "bob-sub", email="bob@old.example", name="Bob", phone_number="+254700000001")
    login(Client(), "bob-sub", email="bob@new.example", name="Robert")
    user = User.objects.get(oidc_sub="bob-sub")
    assert (user.email, user.name) == ("bob@new.example", "Robert")
    assert user.phone == "+254700000001"
    assert User.objects.count() == 1


def test_a_second_subject_with_the_same_email_is_another_user(client, login) -> None:
    login(client, "carol-1", email="carol@example.com", email_verified=True)
    login(Client(), "carol-2", email="carol@example.com", email_verified=True)
    assert set(User.objects.values_list("oidc_sub", flat=True)) == {"carol-1", "carol-2"}


def test_verified_email_in_admin_emails_gets_the_admin_role(client, login, settings) -> None:
    settings.ADMIN_EMAILS = ["boss@example.com"]
    login(client, "boss", email="Boss@example.com", email_verified=True)
    login(Client(), "pretender", email="boss@example.com", email_verified=False)
    assert User.objects.get(oidc_sub="boss").roles == ["customer", "admin"]
    assert User.objects.get(oidc_sub="pretender").roles == ["customer"]


def test_a_second_subject_with_the_listed_verified_email_does_not_become_admin(
    client, login, settings
) -> None:
    settings.ADMIN_EMAILS = ["boss@example.com"]
    login(client, "boss", email="boss@example.com", email_verified=True)
    login(Client(), "impostor", email="boss@example.com", email_verified=True)
    login(Client(), "impostor", email="boss@example.com", email_verified=True)
    assert User.objects.get(oidc_sub="impostor").roles == ["customer"]
    assert User.objects.get(oidc_sub="boss").roles == ["customer", "admin"]


@pytest.mark.parametrize("verified", ["true", "True", 1, None])
def test_only_a_json_true_email_verified_counts(client, login, settings, verified) -> None:
    settings.ADMIN_EMAILS = ["boss@example.com"]
    login(client, "boss", email="boss@example.com", email_verified=verified)
    user = User.objects.get(oidc_sub="boss")
    assert (user.email_verified, user.roles) == (False, ["customer"])


def test_the_account_that_linked_the_email_first_keeps_it_whoever_logs_in_first(
    make_user, settings
) -> None:
    settings.ADMIN_EMAILS = ["boss@example.com"]
    first = make_user(sub="first", email="other@example.com")
    make_user(sub="first", email="boss@example.com")  # verified, not yet its claim: joined first
    second = make_user(sub="second", email="boss@example.com")
    assert second.roles == ["customer"]
    assert make_user(sub="first", email="boss@example.com").roles == ["customer", "admin"]
    assert User.objects.get(pk=first.pk).listed_admin_email == "boss@example.com"


def test_an_account_is_its_issuer_and_subject(make_user, settings) -> None:
    settings.ADMIN_EMAILS = ["boss@example.com"]
    ours = make_user(iss="https://accounts.example", sub="42", email="boss@example.com")
    theirs = make_user(iss="https://elsewhere.example", sub="42", email="boss@example.com")
    assert ours.pk != theirs.pk
    assert (ours.roles, theirs.roles) == (["customer", "admin"], ["customer"])


def test_an_account_linked_before_issuers_were_recorded_keeps_its_roles(make_user) -> None:
    legacy = make_user(sub="old-subject")
    User.objects.filter(pk=legacy.pk).update(oidc_issuer="", admin_granted=True)
    again = make_user(iss="https://accounts.example", sub="old-subject")
    assert again.pk == legacy.pk
    assert again.oidc_issuer == "https://accounts.example"
    assert again.roles == ["customer", "admin"]


def test_a_change_of_roles_is_logged(client, login, settings, caplog) -> None:
    settings.ADMIN_EMAILS = ["boss@example.com"]
    login(client, "boss", email="boss@example.com", email_verified=False)
    with caplog.at_level("WARNING", logger="gateway.services"):
        login(Client(), "boss", email="boss@example.com", email_verified=True)
    user = User.objects.get(oidc_sub="boss")
    assert f"roles of user {user.public_id} changed from customer to customer,admin (login)" in (
        caplog.text
    )


def test_next_is_followed_when_it_is_a_local_path(client, provider) -> None:
    url = start_login(client, next="/docs/?x=1")
    assert finish_login(client, provider.approve(url, sub="dora"))["Location"] == "/docs/?x=1"


@pytest.mark.parametrize(
    "next_url",
    ["https://evil.example/", "//evil.example/x", "/\\evil.example", "http://testserver/x", "docs"],
)
def test_next_never_leads_off_site(client, provider, next_url) -> None:
    url = start_login(client, next=next_url)
    assert finish_login(client, provider.approve(url, sub="erin"))["Location"] == "/auth/token/"


def assert_refused(client: Client, response, code: str, status: int = 401) -> None:
    """The failure page (a browser), with the failure's code; no session, no user."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("text/html")
    assert f"<code>{code}</code>".encode() in response.content
    assert session_user_id(client) is None
    assert not User.objects.exists()


def test_wrong_state_is_refused(client, provider) -> None:
    callback = provider.approve(start_login(client), sub="frank")
    parts = urlsplit(callback)
    query = parse_qs(parts.query)
    forged = urlencode({"code": query["code"][0], "state": "not-the-state-we-sent"})
    response = client.get(f"{parts.path}?{forged}")
    assert_refused(client, response, "login_state_invalid", status=400)
    api = client.get(f"{parts.path}?{forged}", HTTP_ACCEPT="application/json")
    assert api.status_code == 400
    assert api.json()["error"]["code"] == "login_state_invalid"
    assert "start the login again" in api.json()["error"]["message"]


def test_callback_without_a_login_in_progress_is_refused(provider) -> None:
    stranger = Client()
    callback = provider.approve(start_login(Client()), sub="gina")
    assert_refused(stranger, finish_login(stranger, callback), "login_state_invalid", status=400)


def test_replayed_callback_is_refused(client, provider) -> None:
    callback = provider.approve(start_login(client), sub="hank")
    assert finish_login(client, callback)["Location"] == "/auth/token/"
    client.logout()
    User.objects.all().delete()
    replay = finish_login(client, callback)
    assert_refused(client, replay, "login_state_invalid", status=400)


def test_id_token_with_another_nonce_is_refused(client, provider) -> None:
    url = start_login(client)
    parts = urlsplit(url)
    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
    query["nonce"] = "a-nonce-this-browser-never-sent"
    tampered = f"{parts.scheme}://{parts.netloc}{parts.path}?{urlencode(query)}"
    response = finish_login(client, provider.approve(tampered, sub="ivy"))
    assert_refused(client, response, "id_token_invalid")
    assert b"nonce" in response.content


def test_id_token_for_another_audience_is_refused(client, scripted_provider) -> None:
    scripted_provider.id_token_overrides = {"aud": "some-other-client"}
    callback = scripted_provider.authorize(start_login(client), sub="jack")
    assert_refused(client, finish_login(client, callback), "id_token_invalid")


def test_id_token_from_another_issuer_is_refused(client, scripted_provider) -> None:
    scripted_provider.id_token_overrides = {"iss": "https://impostor.example"}
    callback = scripted_provider.authorize(start_login(client), sub="kate")
    assert_refused(client, finish_login(client, callback), "id_token_invalid")


def test_userinfo_about_another_subject_is_refused(client, scripted_provider) -> None:
    scripted_provider.claims = {"sub": "someone-else", "email": "someone@example.com"}
    callback = scripted_provider.authorize(start_login(client), sub="lena")
    assert_refused(client, finish_login(client, callback), "login_failed")


def test_scripted_provider_login_checks_pkce_and_succeeds(client, scripted_provider) -> None:
    callback = scripted_provider.authorize(start_login(client), sub="liam")
    assert finish_login(client, callback)["Location"] == "/auth/token/"
    assert User.objects.get(oidc_sub="liam").email == "scripted@example.com"


def test_a_refused_code_exchange_says_what_the_provider_answered(client, scripted_provider) -> None:
    callback = scripted_provider.authorize(start_login(client), sub="mia")
    # The provider has forgotten the code (as after a first use): it answers invalid_grant.
    scripted_provider._grants.clear()
    parts = urlsplit(callback)
    response = client.get(f"{parts.path}?{parts.query}", HTTP_ACCEPT="application/json")
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "code_exchange_failed"
    assert "HTTP 400: invalid_grant" in error["message"]
    assert "tests-secret" not in error["message"]
    assert not User.objects.exists()


def test_a_login_the_provider_refused_is_one_shape_too(client, provider) -> None:
    url = start_login(client)
    state = parse_qs(urlsplit(url).query)["state"][0]
    query = urlencode({"error": "access_denied", "error_description": "No.", "state": state})
    assert_refused(client, client.get(f"/oidc/callback/?{query}"), "login_refused")
    api = client.get(f"/oidc/callback/?{query}", HTTP_ACCEPT="application/json")
    assert api.json()["error"]["message"].startswith(
        "The login provider did not let the login through (access_denied: No.)"
    )


def test_unreachable_provider_is_a_json_503(client, settings) -> None:
    settings.OIDC_OP_DISCOVERY_URL = "http://127.0.0.1:1/.well-known/openid-configuration"
    response = client.get("/oidc/authenticate/", HTTP_ACCEPT="application/json")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "provider_unavailable"
    page = client.get("/oidc/authenticate/")
    assert page.status_code == 503
    assert b"<code>provider_unavailable</code>" in page.content


def test_explicit_endpoints_must_all_be_set(client, scripted_provider, settings) -> None:
    from django.core.exceptions import ImproperlyConfigured
    from gateway.identity.oidc import provider

    assert provider().userinfo_endpoint == settings.OIDC_OP_USER_ENDPOINT
    settings.OIDC_OP_TOKEN_ENDPOINT = ""
    settings.OIDC_OP_USER_ENDPOINT = ""
    missing = re.escape("(missing: ['OIDC_OP_TOKEN_ENDPOINT', 'OIDC_OP_USER_ENDPOINT'])")
    with pytest.raises(ImproperlyConfigured, match=missing):
        provider()


@pytest.mark.parametrize(
    ("listed", "configured", "used"),
    [
        (("client_secret_post", "client_secret_basic"), "", "client_secret_basic"),
        (("private_key_jwt", "client_secret_post"), "", "client_secret_post"),
        ((), "", "client_secret_basic"),  # the document says nothing: the OAuth default
        (("client_secret_basic",), "client_secret_post", "client_secret_post"),
    ],
)
def test_the_token_endpoint_auth_method_is_the_setting_else_what_discovery_lists(
    settings, listed, configured, used
) -> None:
    from gateway.identity.oidc import Provider

    settings.OIDC_TOKEN_ENDPOINT_AUTH_METHOD = configured
    found = Provider(
        issuer="https://op.example",
        authorization_endpoint="https://op.example/authorize",
        token_endpoint="https://op.example/token",
        userinfo_endpoint="https://op.example/userinfo",
        jwks_uri="https://op.example/jwks",
        token_endpoint_auth_methods=listed,
    )
    assert found.token_endpoint_auth_method == used


def test_login_works_with_the_secret_in_the_form_too(client, login, settings) -> None:
    settings.OIDC_TOKEN_ENDPOINT_AUTH_METHOD = "client_secret_post"
    assert login(client, "pat")["Location"] == "/auth/token/"
    assert User.objects.filter(oidc_sub="pat").exists()
