import base64
import json
import time

import pytest

from ecomms_common.testing import BAD_ACCESS_TOKENS
from ecomms_standins.jwks import LocalJWKS, SigningKey, TokenMinter


def _unsigned(header: dict, payload: dict) -> str:
    def part(obj: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{part(header)}.{part(payload)}."


def _get(api_client, path, token):
    return api_client.get(path, HTTP_AUTHORIZATION=f"Bearer {token}")


ANY_INVALID = ("invalid_token", "token_expired")


def _refused(response, code="invalid_token"):
    assert response.status_code == 401, response.content
    codes = code if isinstance(code, tuple) else (code,)
    assert response.json()["error"]["code"] in codes
    assert response["WWW-Authenticate"] == 'Bearer realm="ecomms"'


def test_a_valid_token_exposes_sub_email_name_and_roles(api_client, local_jwks):
    token = local_jwks.mint(
        sub="4b7c1f0e-0000-4000-8000-000000000001",
        email="ada@example.com",
        name="Ada Lovelace",
        roles=["customer", "admin"],
    )
    response = _get(api_client, "/whoami/", token)
    assert response.status_code == 200
    assert response.json() == {
        "sub": "4b7c1f0e-0000-4000-8000-000000000001",
        "email": "ada@example.com",
        "name": "Ada Lovelace",
        "roles": ["admin", "customer"],
    }


def test_no_token_is_a_401(api_client):
    _refused(api_client.get("/whoami/"), code="not_authenticated")


def test_another_scheme_is_not_taken_for_a_token(api_client):
    response = api_client.get("/whoami/", HTTP_AUTHORIZATION="Basic dXNlcjpwYXNz")
    _refused(response, code="not_authenticated")


@pytest.mark.parametrize("header", ["Bearer", "Bearer two parts", "Bearer not-a-jwt"])
def test_malformed_authorization_is_a_401(api_client, header):
    _refused(api_client.get("/whoami/", HTTP_AUTHORIZATION=header))


@pytest.mark.parametrize(
    "build", [build for _, build in BAD_ACCESS_TOKENS], ids=[name for name, _ in BAD_ACCESS_TOKENS]
)
def test_every_bad_token_of_the_shared_table_is_a_401(api_client, local_jwks, build):
    _refused(_get(api_client, "/whoami/", build(local_jwks.minter)), code=ANY_INVALID)


def test_an_expired_token_is_refused(api_client, local_jwks, settings):
    token = local_jwks.mint(exp=int(time.time()) - settings.AUTH_LEEWAY_SECONDS - 5)
    _refused(_get(api_client, "/whoami/", token), code="token_expired")


def test_a_token_expired_within_the_leeway_is_accepted(api_client, local_jwks, settings):
    token = local_jwks.mint(exp=int(time.time()) - settings.AUTH_LEEWAY_SECONDS // 2)
    assert _get(api_client, "/whoami/", token).status_code == 200


def test_admin_permission(api_client, local_jwks):
    assert _get(api_client, "/admin-only/", local_jwks.mint(roles=["customer"])).status_code == 403
    assert _get(api_client, "/admin-only/", local_jwks.mint(roles=["admin"])).status_code == 200


def test_customer_permission(api_client, local_jwks):
    assert _get(api_client, "/customer-only/", local_jwks.mint(roles=["admin"])).status_code == 403
    assert (
        _get(api_client, "/customer-only/", local_jwks.mint(roles=["customer"])).status_code == 200
    )
    assert api_client.get("/customer-only/").status_code == 401


def test_keys_are_cached_between_requests(api_client, local_jwks):
    before = local_jwks.fetch_count
    for _ in range(3):
        assert _get(api_client, "/whoami/", local_jwks.mint()).status_code == 200
    assert local_jwks.fetch_count == before + 1


@pytest.fixture
def rotating_jwks(settings):
    from ecomms_common.auth import reset_jwks_cache

    jwks = LocalJWKS(issuer=settings.AUTH_ISSUER, audience=settings.AUTH_AUDIENCE)
    settings.AUTH_JWKS_URL = jwks.url
    reset_jwks_cache()
    yield jwks
    jwks.close()


def test_an_unknown_kid_refetches_the_keys_once(api_client, rotating_jwks, settings):
    settings.AUTH_JWKS_REFETCH_COOLDOWN_SECONDS = 0
    assert _get(api_client, "/whoami/", rotating_jwks.mint()).status_code == 200
    assert rotating_jwks.fetch_count == 1
    rotating_jwks.rotate()
    assert _get(api_client, "/whoami/", rotating_jwks.mint()).status_code == 200
    assert rotating_jwks.fetch_count == 2
    stranger = SigningKey.generate()
    _refused(_get(api_client, "/whoami/", rotating_jwks.mint(key=stranger)))
    assert rotating_jwks.fetch_count == 3


def test_unknown_kids_cannot_hammer_the_key_endpoint(api_client, rotating_jwks, settings):
    settings.AUTH_JWKS_REFETCH_COOLDOWN_SECONDS = 60
    assert _get(api_client, "/whoami/", rotating_jwks.mint()).status_code == 200
    for _ in range(5):
        _refused(_get(api_client, "/whoami/", rotating_jwks.mint(key=SigningKey.generate())))
    assert rotating_jwks.fetch_count == 1


def test_unreachable_keys_are_a_503_not_a_401(api_client, rotating_jwks, settings):
    token = rotating_jwks.mint()
    rotating_jwks.close()
    response = _get(api_client, "/whoami/", token)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "auth_keys_unavailable"


def test_an_access_token_is_an_rfc_9068_one(local_jwks):
    import jwt

    token = local_jwks.mint()
    assert jwt.get_unverified_header(token)["typ"] == "at+jwt"
    claims = jwt.decode(token, options={"verify_signature": False})
    assert {"iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope"} <= claims.keys()


def test_a_media_type_typ_is_accepted(api_client, local_jwks):
    token = local_jwks.mint(headers={"typ": "application/AT+JWT"})
    assert _get(api_client, "/whoami/", token).status_code == 200


def test_a_legacy_token_issued_before_the_cut_over_works_until_it_expires(
    api_client, local_jwks, settings
):
    issued = int(settings.AUTH_LEGACY_TOKENS_ISSUED_BEFORE.timestamp()) - 60
    legacy = {"headers": {"typ": "JWT"}, "client_id": None, "scope": None, "iat": issued}
    live = local_jwks.mint(**legacy, exp=int(time.time()) + 300)
    assert _get(api_client, "/whoami/", live).status_code == 200
    _refused(_get(api_client, "/whoami/", local_jwks.mint(**legacy, exp=issued + 300)), ANY_INVALID)


def test_without_a_cut_over_no_legacy_token_passes(api_client, local_jwks, settings):
    issued = int(settings.AUTH_LEGACY_TOKENS_ISSUED_BEFORE.timestamp()) - 60
    settings.AUTH_LEGACY_TOKENS_ISSUED_BEFORE = None
    token = local_jwks.mint(headers={"typ": "JWT"}, iat=issued, exp=int(time.time()) + 300)
    _refused(_get(api_client, "/whoami/", token))


def test_the_issuer_alone_is_enough_its_metadata_names_the_keys(api_client, settings):
    from ecomms_common.auth import reset_jwks_cache

    issuer = LocalJWKS(issuer=None, audience=settings.AUTH_AUDIENCE)
    settings.AUTH_ISSUER, settings.AUTH_JWKS_URL = issuer.issuer, ""
    reset_jwks_cache()
    try:
        assert _get(api_client, "/whoami/", issuer.mint()).status_code == 200
        assert issuer.fetch_count == 1
    finally:
        issuer.close()


def test_an_issuer_whose_metadata_cannot_be_had_is_a_503(api_client, local_jwks, settings):
    from ecomms_common.auth import reset_jwks_cache

    settings.AUTH_ISSUER, settings.AUTH_JWKS_URL = "http://127.0.0.1:1", ""
    reset_jwks_cache()
    minter = TokenMinter(issuer="http://127.0.0.1:1", audience="ecomms", key=local_jwks.current)
    token = minter.mint()
    response = _get(api_client, "/whoami/", token)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "auth_keys_unavailable"
