"""A real JWKS endpoint on 127.0.0.1 and a token minter, standing in for the gateway in tests."""

import argparse
import json
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from ecomms_standins.serving import ServerThread, serve_until_stopped

DEFAULT_ISSUER = "http://127.0.0.1:8000"
DEFAULT_AUDIENCE = "ecomms"
DEFAULT_CLIENT_ID = "ecomms-gateway"


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: rsa.RSAPrivateKey

    @classmethod
    def generate(cls) -> "SigningKey":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return cls(kid=uuid.uuid4().hex, private_key=key)

    def public_jwk(self) -> dict[str, Any]:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.private_key.public_key()))
        return {**jwk, "kid": self.kid, "use": "sig", "alg": "RS256"}


class LocalJWKS:
    """Serve a JWKS over HTTP and mint RS256 tokens signed by its keys.

    ``published`` is what the endpoint serves; ``rotate()`` publishes a new key beside the old.
    ``fetch_count`` counts requests for the keys, so tests can see when a verifier fetched them.
    Made with ``issuer=None``, it is the issuer and serves its RFC 8414 metadata too.
    """

    def __init__(
        self,
        *,
        issuer: str | None = DEFAULT_ISSUER,
        audience: str = DEFAULT_AUDIENCE,
        port: int = 0,
    ) -> None:
        self.audience = audience
        self.current = SigningKey.generate()
        self.published: list[SigningKey] = [self.current]
        self.fetch_count = 0
        server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._serving = ServerThread(server).start()
        # None: this server is the issuer, and serves its RFC 8414 metadata.
        self.issuer = issuer or self.base_url

    @property
    def base_url(self) -> str:
        return self._serving.url

    @property
    def url(self) -> str:
        return f"{self.base_url}/.well-known/jwks.json"

    def close(self) -> None:
        self._serving.close()

    def rotate(self) -> SigningKey:
        """Sign with a new key from now on; keep serving the old one too."""
        self.current = SigningKey.generate()
        self.published = [*self.published, self.current]
        return self.current

    def jwks(self) -> dict[str, Any]:
        return {"keys": [key.public_jwk() for key in self.published]}

    @property
    def minter(self) -> "TokenMinter":
        """Return a minter of tokens signed with the current key."""
        return TokenMinter(issuer=self.issuer, audience=self.audience, key=self.current)

    def mint(self, **kwargs: Any) -> str:
        """Return a signed access token shaped like the gateway's (see ``TokenMinter.mint``)."""
        return self.minter.mint(**kwargs)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        jwks = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/.well-known/oauth-authorization-server":
                    document = {"issuer": jwks.issuer, "jwks_uri": jwks.url}
                else:
                    jwks.fetch_count += 1
                    document = jwks.jwks()
                body = json.dumps(document).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output quiet

        return Handler


@dataclass(frozen=True)
class TokenMinter:
    """Mint RS256 access tokens shaped like the gateway's (RFC 9068), signed with ``key``."""

    issuer: str
    audience: str
    key: SigningKey

    def mint(
        self,
        *,
        roles: Iterable[str] = ("customer",),
        email: str = "customer@example.com",
        name: str = "Test Customer",
        ttl: int = 300,
        key: SigningKey | None = None,
        headers: dict[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        """Return a signed access token shaped like the gateway's.

        ``claims`` override or add any claim (``sub="..."``); a claim given as None is left out.
        ``headers`` override or add header fields (``{"typ": "JWT"}``); None leaves one out.
        """
        now = int(time.time())
        payload = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": str(uuid.uuid4()),
            "email": email,
            "name": name,
            # A plain string stays one, so tests can mint a malformed roles claim.
            "roles": roles if isinstance(roles, str) else list(roles),
            "token_type": "access",
            "iat": now,
            "exp": now + ttl,
            "jti": uuid.uuid4().hex,
            "client_id": DEFAULT_CLIENT_ID,
            "scope": "api",
            **claims,
        }
        payload = _without_none(payload)
        signer = key or self.key
        return jwt.encode(
            payload,
            signer.private_key,
            algorithm="RS256",
            headers=_header({"typ": "at+jwt", "kid": signer.kid, **(headers or {})}),
        )


def _header(fields: dict[str, Any]) -> dict[str, Any]:
    # PyJWT writes typ "JWT" unless given an empty one: that is how typ is left out.
    return {**_without_none(fields), "typ": fields["typ"] or ""}


def _without_none(fields: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in fields.items() if value is not None}


def main(argv: list[str] | None = None) -> None:
    """Serve a JWKS and print a customer's and an admin's token (``ecomms-local-jwks``)."""
    parser = argparse.ArgumentParser(
        description="A local JWKS (give its URL as AUTH_JWKS_URL) and tokens signed by its key."
    )
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--issuer", default=DEFAULT_ISSUER)
    parser.add_argument("--audience", default=DEFAULT_AUDIENCE)
    parser.add_argument("--ttl", type=int, default=3600, help="The tokens' lifetime in seconds.")
    options = parser.parse_args(argv)
    jwks = LocalJWKS(issuer=options.issuer, audience=options.audience, port=options.port)
    customer = jwks.mint(ttl=options.ttl)
    admin = jwks.mint(roles=("customer", "admin"), email="admin@example.com", ttl=options.ttl)
    serve_until_stopped(f"JWKS on {jwks.url}\ncustomer token: {customer}\nadmin token: {admin}")
    jwks.close()
