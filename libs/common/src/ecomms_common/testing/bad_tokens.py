"""Access tokens every verifier must refuse with a 401: one table, run against every caller.

Among them the tokens RFC 9068 tells apart from access tokens: no ``typ: at+jwt`` header (a
legacy ``typ: JWT`` is refused once issued after the cut-over), a refresh token's ``typ``.

Each case is ``(name, build)``; ``build(minter)`` returns the token, made from a minter whose
good tokens the caller under test accepts (same issuer, audience and signing key).
"""

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable

import jwt
from cryptography.hazmat.primitives import serialization

from ecomms_standins.jwks import SigningKey, TokenMinter


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(minter: TokenMinter) -> dict:
    return jwt.decode(minter.mint(), options={"verify_signature": False})


def _alg_none(minter: TokenMinter) -> str:
    header = {"alg": "none", "typ": "at+jwt", "kid": minter.key.kid}
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(_claims(minter)).encode())}."


def _hs256_with_public_key(minter: TokenMinter) -> str:
    """The algorithm-confusion attack: HMAC keyed with the RSA public key's PEM."""
    public_pem = minter.key.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "typ": "at+jwt", "kid": minter.key.kid}
    signing_input = (
        f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(_claims(minter)).encode())}"
    )
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def _rs512(minter: TokenMinter) -> str:
    """Signed with the right key, but not with the one pinned algorithm."""
    return jwt.encode(
        _claims(minter),
        minter.key.private_key,
        algorithm="RS512",
        headers={"typ": "at+jwt", "kid": minter.key.kid},
    )


def _no_kid(minter: TokenMinter) -> str:
    return jwt.encode(
        _claims(minter), minter.key.private_key, algorithm="RS256", headers={"typ": "at+jwt"}
    )


def _forged_signature(minter: TokenMinter) -> str:
    """A stranger's key under our key's name."""
    impostor = SigningKey(kid=minter.key.kid, private_key=SigningKey.generate().private_key)
    return minter.mint(key=impostor)


def _tampered_payload(minter: TokenMinter) -> str:
    header, _, signature = minter.mint(roles=["customer"]).split(".")
    claims = {**_claims(minter), "roles": ["customer", "admin"]}
    return f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"


def _now() -> int:
    return int(time.time())


BAD_ACCESS_TOKENS: list[tuple[str, Callable[[TokenMinter], str]]] = [
    ("alg_none", _alg_none),
    ("hs256_signed_with_the_public_key", _hs256_with_public_key),
    ("rs512_with_the_right_key", _rs512),
    ("no_kid", _no_kid),
    ("empty_kid", lambda minter: minter.mint(headers={"kid": ""})),
    ("unknown_kid", lambda minter: minter.mint(key=SigningKey.generate())),
    ("forged_signature", _forged_signature),
    ("tampered_payload", _tampered_payload),
    ("wrong_issuer", lambda minter: minter.mint(iss="https://impostor.example")),
    ("no_issuer", lambda minter: minter.mint(iss=None)),
    ("wrong_audience", lambda minter: minter.mint(aud="another-api")),
    ("no_audience", lambda minter: minter.mint(aud=None)),
    ("expired", lambda minter: minter.mint(iat=_now() - 7200, exp=_now() - 3600)),
    ("no_exp", lambda minter: minter.mint(exp=None)),
    ("exp_as_string", lambda minter: minter.mint(exp=str(_now() + 300))),
    ("exp_as_boolean", lambda minter: minter.mint(exp=True)),
    ("no_iat", lambda minter: minter.mint(iat=None)),
    ("iat_as_string", lambda minter: minter.mint(iat=str(_now()))),
    ("iat_in_the_future", lambda minter: minter.mint(iat=_now() + 3600, exp=_now() + 3900)),
    ("nbf_in_the_future", lambda minter: minter.mint(nbf=_now() + 3600)),
    ("nbf_as_string", lambda minter: minter.mint(nbf=str(_now()))),
    ("no_jti", lambda minter: minter.mint(jti=None)),
    ("no_typ", lambda minter: minter.mint(headers={"typ": None})),
    ("typ_jwt_issued_after_the_cut_over", lambda minter: minter.mint(headers={"typ": "JWT"})),
    ("typ_of_a_refresh_token", lambda minter: minter.mint(headers={"typ": "refresh+jwt"})),
    (
        "refresh_token_shaped",
        lambda minter: minter.mint(
            headers={"typ": "refresh+jwt"},
            token_type="refresh",  # noqa: S106
            client_id=None,
            scope=None,
        ),
    ),
    ("typ_id_token_shaped", lambda minter: minter.mint(headers={"typ": "id_token+jwt"})),
    ("no_client_id", lambda minter: minter.mint(client_id=None)),
    ("no_token_type", lambda minter: minter.mint(token_type=None)),
    ("token_type_refresh", lambda minter: minter.mint(token_type="refresh")),  # noqa: S106
    ("no_sub", lambda minter: minter.mint(sub=None)),
    ("empty_sub", lambda minter: minter.mint(sub="")),
    ("sub_not_a_string", lambda minter: minter.mint(sub=42)),
    ("roles_not_a_list", lambda minter: minter.mint(roles="admin")),
    ("roles_not_strings", lambda minter: minter.mint(roles=[1, "admin"])),
    ("garbage", lambda minter: "not.a.jwt"),
    ("not_base64", lambda minter: "%%%.%%%.%%%"),
]
