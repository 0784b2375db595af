"""The gateway's signing keys: the current private key and, during a rotation, the previous one.

Keys come from the environment (a Secret): ``JWT_PRIVATE_KEY`` (PEM) or ``JWT_PRIVATE_KEY_FILE``,
and optionally ``JWT_PREVIOUS_KEY`` / ``JWT_PREVIOUS_KEY_FILE`` (private or public PEM). Each key's
``kid`` is its RFC 7638 thumbprint, so every worker and replica names a key the same way.
"""

import base64
import functools
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

ALGORITHM = "RS256"


@dataclass(frozen=True)
class PublicKey:
    kid: str
    key: rsa.RSAPublicKey

    def jwk(self) -> dict[str, Any]:
        fields = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key))
        return {**fields, "kid": self.kid, "use": "sig", "alg": ALGORITHM}


@dataclass(frozen=True)
class KeyRing:
    """The key that signs now, and every public key a token of ours may be signed with."""

    signing_kid: str
    signing_key: rsa.RSAPrivateKey
    public_keys: tuple[PublicKey, ...]

    def public_key(self, kid: str) -> rsa.RSAPublicKey | None:
        return next((public.key for public in self.public_keys if public.kid == kid), None)

    def jwks(self) -> dict[str, Any]:
        return {"keys": [public.jwk() for public in self.public_keys]}


def thumbprint(key: rsa.RSAPublicKey) -> str:
    """Return the RFC 7638 SHA-256 thumbprint of a public key (base64url, unpadded)."""
    numbers = key.public_numbers()

    def b64(value: int) -> str:
        raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    canonical = json.dumps(
        {"e": b64(numbers.e), "kty": "RSA", "n": b64(numbers.n)}, separators=(",", ":")
    )
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


# A key file is read again at most this often: every token check asks for the key ring, and a
# file replaced for a rotation is still picked up within a second, without a restart.
FILE_RECHECK_SECONDS = 1.0
_files_read: dict[str, tuple[float, bytes]] = {}


def _pem(value: str, path: str, name: str) -> bytes | None:
    if value:
        return value.replace("\\n", "\n").encode()
    if path:
        now = time.monotonic()
        read = _files_read.get(path)
        if read is not None and now - read[0] < FILE_RECHECK_SECONDS:
            return read[1]
        try:
            content = Path(path).read_bytes()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE cannot be read: {exc}") from exc
        _files_read[path] = (now, content)
        return content
    return None


def _load_private(pem: bytes, name: str) -> rsa.RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} is not a PEM private key: {exc}") from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ImproperlyConfigured(f"{name} must be an RSA key (tokens are signed with RS256).")
    return key


def _load_public(pem: bytes, name: str) -> rsa.RSAPublicKey:
    if b"PRIVATE KEY" in pem:
        return _load_private(pem, name).public_key()
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} is not a PEM key: {exc}") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise ImproperlyConfigured(f"{name} must be an RSA key.")
    return key


@functools.cache
def _key_ring(current: bytes, previous: bytes | None) -> KeyRing:
    signing_key = _load_private(current, "JWT_PRIVATE_KEY")
    signing = PublicKey(kid=thumbprint(signing_key.public_key()), key=signing_key.public_key())
    public_keys = [signing]
    if previous is not None:
        old = _load_public(previous, "JWT_PREVIOUS_KEY")
        if thumbprint(old) != signing.kid:
            public_keys.append(PublicKey(kid=thumbprint(old), key=old))
    return KeyRing(signing_kid=signing.kid, signing_key=signing_key, public_keys=tuple(public_keys))


def key_ring() -> KeyRing:
    """Return the configured keys (parsed once per distinct configuration)."""
    current = _pem(settings.JWT_PRIVATE_KEY, settings.JWT_PRIVATE_KEY_FILE, "JWT_PRIVATE_KEY")
    if current is None:
        raise ImproperlyConfigured(
            "Set JWT_PRIVATE_KEY (PEM) or JWT_PRIVATE_KEY_FILE: the gateway signs tokens with it."
        )
    previous = _pem(settings.JWT_PREVIOUS_KEY, settings.JWT_PREVIOUS_KEY_FILE, "JWT_PREVIOUS_KEY")
    return _key_ring(current, previous)
