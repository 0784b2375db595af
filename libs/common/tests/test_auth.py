import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from ecomms_common.testing import LocalJWKS, SigningKey


def _unsigned(header: dict, payload: dict) -> str:
    def part(obj: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{part(header)}.{part(payload)}."


def _get(api_client, path, token):
    return api_client.get(path, HTTP_AUTHORIZATION=f"Bearer {token}")


def _refused(response, code="invalid_token"):
    assert response.status_code == 401, response.content
    assert response.json()["error"]["code"] == code
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


def test_a_forged_signature_is_refused(api_client, local_jwks):
    impostor = SigningKey(kid=local_jwks.current.kid, private_key=SigningKey.generate().private_key)
    _refused(_get(api_client, "/whoami/", local_jwks.mint(key=impostor)))


def test_a_tampered_payload_is_refused(api_client, local_jwks):
    header, _, signature = local_jwks.mint(roles=["customer"]).split(".")
    claims = jwt.decode(local_jwks.mint(roles=["admin"]), options={"verify_signature": False})
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    _refused(_get(api_client, "/admin-only/", f"{header}.{forged_payload}.{signature}"))


def test_an_expired_token_is_refused(api_client, local_jwks, settings):
    token = local_jwks.mint(exp=int(time.time()) - settings.AUTH_LEEWAY_SECONDS - 5)
    _refused(_get(api_client, "/whoami/", token), code="token_expired")


def test_a_token_expired_within_the_leeway_is_accepted(api_client, local_jwks, settings):
    token = local_jwks.mint(exp=int(time.time()) - settings.AUTH_LEEWAY_SECONDS // 2)
    assert _get(api_client, "/whoami/", token).status_code == 200


def test_a_token_for_another_audience_is_refused(api_client, local_jwks):
    _refused(_get(api_client, "/whoami/", local_jwks.mint(aud="some-other-api")))


def test_a_token_from_another_issuer_is_refused(api_client, local_jwks):
    _refused(_get(api_client, "/whoami/", local_jwks.mint(iss="https://attacker.example")))


def test_alg_none_is_refused(api_client, local_jwks):
    claims = jwt.decode(local_jwks.mint(roles=["admin"]), options={"verify_signature": False})
    token = _unsigned({"alg": "none", "typ": "JWT", "kid": local_jwks.current.kid}, claims)
    _refused(_get(api_client, "/whoami/", token))


def test_hs256_signed_with_the_public_key_is_refused(api_client, local_jwks):
    public_pem = local_jwks.current.private_key.public_key().public_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PublicFormat.SubjectPublicKeyInfo,
    )
    claims = jwt.decode(local_jwks.mint(), options={"verify_signature": False})
    header = {"alg": "HS256", "kid": local_jwks.current.kid}
    signing_input = _unsigned(header, claims).rstrip(".")
    digest = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    signature = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    _refused(_get(api_client, "/whoami/", f"{signing_input}.{signature}"))


def test_a_refresh_token_does_not_open_the_api(api_client, local_jwks):
    _refused(_get(api_client, "/whoami/", local_jwks.mint(token_type="refresh")))


@pytest.mark.parametrize("claim", ["sub", "exp", "iat"])
def test_a_token_missing_a_required_claim_is_refused(api_client, local_jwks, claim):
    _refused(_get(api_client, "/whoami/", local_jwks.mint(**{claim: None})))


def test_a_token_without_kid_is_refused(api_client, local_jwks):
    token = jwt.encode(
        jwt.decode(local_jwks.mint(), options={"verify_signature": False}),
        local_jwks.current.private_key,
        algorithm="RS256",
    )
    _refused(_get(api_client, "/whoami/", token))


def test_roles_must_be_a_list_of_strings(api_client, local_jwks):
    _refused(_get(api_client, "/whoami/", local_jwks.mint(roles="admin")))


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
