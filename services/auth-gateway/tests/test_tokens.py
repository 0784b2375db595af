import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from gateway.identity.keys import key_ring
from gateway.services import admin_grant

from tests.conftest import private_pem

pytestmark = pytest.mark.django_db


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def test_token_page_sends_an_anonymous_browser_to_login(client) -> None:
    response = client.get("/auth/token/", HTTP_ACCEPT="text/html")
    assert response.status_code == 302
    assert response["Location"] == "/oidc/authenticate/?next=/auth/token/"


def test_token_endpoint_refuses_an_anonymous_api_client(client) -> None:
    response = client.get("/auth/token/", HTTP_ACCEPT="application/json")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert client.post("/auth/token/").status_code in (401, 403)


def test_logged_in_browser_gets_a_pair_with_the_contract_claims(client, login) -> None:
    login(client, "nora", email="nora@example.com", email_verified=True, name="Nora N")
    response = client.get("/auth/token/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    assert "no-cache" in response["Cache-Control"] or "no-store" in response["Cache-Control"]
    pair = response.json()
    assert pair["token_type"] == "Bearer"
    assert pair["expires_in"] == 300
    header = jwt.get_unverified_header(pair["access"])
    assert header["alg"] == "RS256"
    assert header["kid"] == key_ring().signing_kid
    claims = claims_of(pair["access"])
    user = client.session["_auth_user_id"]
    assert claims["iss"] == "http://127.0.0.1:8000"
    assert claims["aud"] == "ecomms"
    assert claims["token_type"] == "access"
    assert claims["email"] == "nora@example.com"
    assert claims["name"] == "Nora N"
    assert claims["roles"] == ["customer"]
    assert claims["exp"] - claims["iat"] == 300
    assert claims["jti"]
    from gateway.models import User

    assert claims["sub"] == str(User.objects.get(pk=user).public_id)
    assert claims_of(pair["refresh"])["token_type"] == "refresh"
    assert claims_of(pair["refresh"])["aud"] == "http://127.0.0.1:8000"


def test_a_deactivated_user_gets_no_more_tokens_from_the_session(client, login) -> None:
    from gateway.models import User

    login(client, "tom")
    User.objects.filter(oidc_sub="tom").update(is_active=False)
    response = client.get("/auth/token/", HTTP_ACCEPT="application/json")
    assert response.status_code == 401


def test_token_page_shows_the_pair_in_the_browser(client, login) -> None:
    login(client, "olga", email="olga@example.com")
    response = client.get("/auth/token/", HTTP_ACCEPT="text/html,application/xhtml+xml")
    assert response.status_code == 200
    page = response.content.decode()
    assert "API tokens" in page
    assert "olga@example.com" in page
    access = page.split('<textarea id="access" rows="6" readonly>')[1].split("</textarea>")[0]
    assert claims_of(access)["email"] == "olga@example.com"


def test_post_for_a_pair_needs_the_csrf_token(login) -> None:
    browser = Client(enforce_csrf_checks=True)
    login(browser, "pia")
    refused = browser.post("/auth/token/")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "csrf_failed"
    browser.get("/auth/token/")  # sets the CSRF cookie
    token = browser.cookies["csrftoken"].value
    granted = browser.post("/auth/token/", HTTP_X_CSRFTOKEN=token)
    assert granted.status_code == 200
    assert claims_of(granted.json()["access"])["token_type"] == "access"


def test_refresh_rotates_and_a_reused_refresh_token_is_refused(client, token_pair) -> None:
    first = token_pair()
    rotated = client.post(
        "/auth/token/refresh/", {"refresh": first.refresh}, content_type="application/json"
    )
    assert rotated.status_code == 200
    second = rotated.json()
    assert second["refresh"] != first.refresh
    assert claims_of(second["access"])["sub"] == claims_of(first.access)["sub"]
    reused = client.post(
        "/auth/token/refresh/", {"refresh": first.refresh}, content_type="application/json"
    )
    assert reused.status_code == 401
    assert reused.json()["error"]["code"] == "refresh_token_revoked"
    # Reuse revokes the family: the token rotated from the reused one is revoked with it.
    again = client.post(
        "/auth/token/refresh/", {"refresh": second["refresh"]}, content_type="application/json"
    )
    assert again.status_code == 401


def test_refresh_carries_roles_granted_since(client, make_user, token_pair) -> None:
    user = make_user()
    pair = token_pair(user)
    admin_grant(user=user)
    response = client.post(
        "/auth/token/refresh/", {"refresh": pair.refresh}, content_type="application/json"
    )
    assert claims_of(response.json()["access"])["roles"] == ["customer", "admin"]


def test_refresh_is_refused_for_a_deactivated_user(client, make_user, token_pair) -> None:
    user = make_user()
    pair = token_pair(user)
    user.is_active = False
    user.save()
    response = client.post(
        "/auth/token/refresh/", {"refresh": pair.refresh}, content_type="application/json"
    )
    assert response.status_code == 401


def test_refresh_needs_a_refresh_token(client, token_pair) -> None:
    missing = client.post("/auth/token/refresh/", {}, content_type="application/json")
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == "invalid"
    access = token_pair().access
    wrong_type = client.post(
        "/auth/token/refresh/", {"refresh": access}, content_type="application/json"
    )
    assert wrong_type.status_code == 401


def test_logout_revokes_the_refresh_token_and_ends_the_session(client, login) -> None:
    login(client, "quinn")
    pair = client.get("/auth/token/", HTTP_ACCEPT="application/json").json()
    response = client.post(
        "/auth/logout/", {"refresh": pair["refresh"]}, content_type="application/json"
    )
    assert response.status_code == 204
    assert "_auth_user_id" not in client.session
    revoked = client.post(
        "/auth/token/refresh/", {"refresh": pair["refresh"]}, content_type="application/json"
    )
    assert revoked.status_code == 401
    assert "already used or revoked" in revoked.json()["error"]["message"]


def test_jwks_publishes_the_current_and_previous_keys(client, settings, signing_pem) -> None:
    settings.JWT_PREVIOUS_KEY = signing_pem
    settings.JWT_PRIVATE_KEY = private_pem()
    keys = client.get("/.well-known/jwks.json").json()["keys"]
    assert len(keys) == 2
    assert keys[0]["kid"] == key_ring().signing_kid
    assert {key["alg"] for key in keys} == {"RS256"}
    assert {key["use"] for key in keys} == {"sig"}
    assert all("d" not in key for key in keys), "never a private part"


def test_tokens_signed_before_a_rotation_stay_valid(
    gateway, settings, signing_pem, token_pair, catalog
) -> None:
    client = gateway
    before = token_pair()
    settings.JWT_PRIVATE_KEY = private_pem()
    settings.JWT_PREVIOUS_KEY = signing_pem
    response = client.post("/products/upload/", HTTP_AUTHORIZATION=f"Bearer {before.access}")
    assert response.status_code == 200
    rotated = client.post(
        "/auth/token/refresh/", {"refresh": before.refresh}, content_type="application/json"
    )
    assert rotated.status_code == 200
    assert jwt.get_unverified_header(rotated.json()["access"])["kid"] == key_ring().signing_kid
    # Once the previous key is withdrawn, what it signed is refused.
    settings.JWT_PREVIOUS_KEY = ""
    after = client.post("/products/upload/", HTTP_AUTHORIZATION=f"Bearer {before.access}")
    assert after.status_code == 401


def test_private_key_can_come_from_a_file(settings, tmp_path, signing_pem) -> None:
    path = tmp_path / "jwt.pem"
    path.write_text(signing_pem)
    settings.JWT_PRIVATE_KEY = ""
    settings.JWT_PRIVATE_KEY_FILE = str(path)
    ring = key_ring()
    assert ring.jwks()["keys"][0]["kid"] == ring.signing_kid


def test_a_replaced_key_file_is_read_again_after_the_recheck_interval(
    settings, tmp_path, signing_pem, monkeypatch
) -> None:
    from gateway.identity import keys

    path = tmp_path / "jwt.pem"
    path.write_text(signing_pem)
    settings.JWT_PRIVATE_KEY = ""
    settings.JWT_PRIVATE_KEY_FILE = str(path)
    before = key_ring()
    replacement = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path.write_bytes(
        replacement.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    monkeypatch.setattr(keys, "FILE_RECHECK_SECONDS", 3600.0)
    assert key_ring().signing_kid == before.signing_kid  # not read on every call
    monkeypatch.setattr(keys, "FILE_RECHECK_SECONDS", 0.0)
    assert key_ring().signing_kid == keys.thumbprint(replacement.public_key())


def test_a_missing_or_bad_key_is_a_clear_configuration_error(settings, tmp_path) -> None:
    settings.JWT_PRIVATE_KEY = ""
    with pytest.raises(ImproperlyConfigured, match="JWT_PRIVATE_KEY"):
        key_ring()
    settings.JWT_PRIVATE_KEY_FILE = str(tmp_path / "absent.pem")
    with pytest.raises(ImproperlyConfigured, match="cannot be read"):
        key_ring()
    settings.JWT_PRIVATE_KEY_FILE = ""
    settings.JWT_PRIVATE_KEY = "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----"
    with pytest.raises(ImproperlyConfigured, match="not a PEM private key"):
        key_ring()


def test_previous_key_may_be_given_as_a_public_key(settings) -> None:
    from cryptography.hazmat.primitives import serialization

    previous = private_pem()
    public = (
        serialization.load_pem_private_key(previous.encode(), None)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    settings.JWT_PREVIOUS_KEY = public
    assert len(key_ring().public_keys) == 2


def test_access_tokens_expire_after_the_configured_lifetime(settings, token_pair) -> None:
    settings.JWT_ACCESS_TTL_SECONDS = 120
    claims = claims_of(token_pair().access)
    assert claims["exp"] - claims["iat"] == 120
    assert claims["exp"] <= int(time.time()) + 121


@pytest.mark.django_db(transaction=True)
def test_one_refresh_token_spent_twice_at_once_yields_one_pair(token_pair) -> None:
    import threading

    from django.db import connection
    from gateway.services import token_refresh

    from ecomms_common.auth import InvalidToken

    refresh = token_pair().refresh
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def spend() -> None:
        start.wait()
        try:
            token_refresh(refresh=refresh)
            outcomes.append("pair")
        except InvalidToken:
            outcomes.append("refused")
        finally:
            connection.close()

    spenders = [threading.Thread(target=spend) for _ in range(2)]
    for spender in spenders:
        spender.start()
    for spender in spenders:
        spender.join(30)
    assert sorted(outcomes) == ["pair", "refused"]


def test_gateway_api_views_verify_bearer_tokens_with_their_own_keys(
    client, token_pair, local_jwks
) -> None:
    fetched_before = local_jwks.fetch_count
    access = token_pair().access
    accepted = client.get("/schema/", HTTP_AUTHORIZATION=f"Bearer {access}")
    assert accepted.status_code == 200
    refused = client.get("/schema/", HTTP_AUTHORIZATION="Bearer not.a.token")
    assert refused.status_code == 401
    assert b"invalid_token" in refused.content
    assert local_jwks.fetch_count == fetched_before, "no JWKS fetched over HTTP"


def test_the_verified_token_cache_forgets_the_least_recently_used_first() -> None:
    from gateway.identity.tokens import VerifiedTokens

    cache = VerifiedTokens(max_entries=2)
    far = {"exp": time.time() + 300}
    for key in ("a", "b"):
        cache.put((key,), far)
    assert cache.get(("a",), now=time.time(), leeway=0) is far  # "a" is now the most recent
    cache.put(("c",), far)
    assert cache.get(("b",), now=time.time(), leeway=0) is None
    assert cache.get(("a",), now=time.time(), leeway=0) is far
    assert cache.get(("c",), now=time.time(), leeway=0) is far
    assert cache.get(("a",), now=far["exp"] + 1, leeway=0) is None  # expired: dropped
    assert cache.get(("a",), now=time.time(), leeway=0) is None


@pytest.mark.parametrize(
    "change",
    [{"exp": "9999999999"}, {"sub": ""}, {"token_type": "access"}],
    ids=["exp_as_string", "empty_sub", "access_token_type"],
)
def test_refresh_applies_the_shared_token_rules(client, token_pair, change) -> None:
    ring = key_ring()
    claims = {**claims_of(token_pair().refresh), **change}
    headers = {"kid": ring.signing_kid, "typ": "refresh+jwt"}
    forged = jwt.encode(claims, ring.signing_key, algorithm="RS256", headers=headers)
    response = client.post(
        "/auth/token/refresh/", {"refresh": forged}, content_type="application/json"
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_token"


def test_the_access_token_is_an_rfc_9068_one_and_the_refresh_token_is_not(
    client, token_pair, settings
) -> None:
    pair = token_pair()
    public_key = key_ring().public_key(key_ring().signing_kid)
    assert jwt.get_unverified_header(pair.access)["typ"] == "at+jwt"
    claims = jwt.decode(
        pair.access,
        public_key,
        algorithms=["RS256"],
        audience="ecomms",
        issuer=settings.JWT_ISSUER,
        options={"require": ["iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope"]},
    )
    assert (claims["client_id"], claims["scope"]) == ("ecomms-gateway", "api")
    # The refresh token is another kind for the gateway alone: another typ, another audience.
    assert jwt.get_unverified_header(pair.refresh)["typ"] == "refresh+jwt"
    with pytest.raises(jwt.InvalidAudienceError):
        jwt.decode(pair.refresh, public_key, algorithms=["RS256"], audience="ecomms")
    refused = client.get("/schema/", HTTP_AUTHORIZATION=f"Bearer {pair.refresh}")
    assert refused.status_code == 401
    assert b"invalid_token" in refused.content


def _legacy(token: str, **claims) -> str:
    """Return ``token`` as the gateway signed it before access tokens were RFC 9068 ones."""
    ring = key_ring()
    legacy = {**claims_of(token), "aud": "ecomms", **claims}
    for rfc_9068_only in ("client_id", "scope"):
        legacy.pop(rfc_9068_only, None)
    return jwt.encode(
        legacy, ring.signing_key, algorithm="RS256", headers={"kid": ring.signing_kid}
    )


def test_tokens_issued_before_the_cut_over_work_until_they_expire(
    client, token_pair, settings
) -> None:
    pair = token_pair()
    before = int(settings.AUTH_LEGACY_TOKENS_ISSUED_BEFORE.timestamp()) - 60
    access = _legacy(pair.access, iat=before)
    assert client.get("/schema/", HTTP_AUTHORIZATION=f"Bearer {access}").status_code == 200
    refresh = _legacy(pair.refresh, iat=before)
    response = client.post(
        "/auth/token/refresh/", {"refresh": refresh}, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    assert jwt.get_unverified_header(response.json()["access"])["typ"] == "at+jwt"
    # The same legacy shape issued after the cut-over is refused.
    late = _legacy(token_pair().access)
    assert client.get("/schema/", HTTP_AUTHORIZATION=f"Bearer {late}").status_code == 401
