"""Real local HTTP servers standing in for the outside world: upstream services and providers."""

import base64
import hashlib
import json
import secrets
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt

from ecomms_standins.jwks import SigningKey
from ecomms_standins.serving import ServerThread


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    client_port: int


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})
    body: bytes = b'{"results": []}'
    delay: float = 0.0
    raw: bytes | None = None  # sent as is instead of a well-formed response


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # A pooled client connection dropped by the gateway is normal, not a failure to report.
        error = sys.exc_info()[1]
        if not isinstance(error, ConnectionError):
            super().handle_error(request, client_address)


class HTTPStandIn:
    """A threaded HTTP/1.1 server on 127.0.0.1 (ephemeral port) that records what it receives.

    ``reply`` is what it answers; set ``respond`` to compute the answer from the request instead.
    """

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.reply = Reply()
        self.respond: Callable[[Received], Reply] | None = None
        server = _QuietServer(("127.0.0.1", 0), self._handler())
        server.daemon_threads = True
        self._serving = ServerThread(server).start()

    @property
    def url(self) -> str:
        return self._serving.url

    def close(self) -> None:
        self._serving.close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, so connection reuse shows

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                received = Received(
                    method=self.command,
                    path=self.path,
                    headers={name.lower(): value for name, value in self.headers.items()},
                    body=self.rfile.read(length) if length else b"",
                    client_port=self.client_address[1],
                )
                stand_in.received.append(received)
                reply = stand_in.respond(received) if stand_in.respond else stand_in.reply
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.raw is not None:
                    self.wfile.write(reply.raw)
                    self.close_connection = True
                    return
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                if "Content-Length" not in reply.headers:
                    self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(reply.body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


class ScriptedProvider(HTTPStandIn):
    """A minimal OIDC provider whose ID tokens can be made wrong on purpose.

    It checks PKCE (S256) at its token endpoint and signs ID tokens with its own key;
    ``id_token_overrides`` replaces claims of the next ID tokens (``aud``, ``nonce``, ``iss``).
    """

    def __init__(self, *, client_id: str) -> None:
        super().__init__()
        self.client_id = client_id
        self.key = SigningKey.generate()
        self.id_token_overrides: dict[str, Any] = {}
        self.claims: dict[str, Any] = {"email": "scripted@example.com", "email_verified": True}
        self._grants: dict[str, dict[str, str]] = {}
        self.respond = self._answer

    @property
    def issuer(self) -> str:
        return self.url

    @property
    def discovery_url(self) -> str:
        return f"{self.url}/.well-known/openid-configuration"

    def authorize(self, authorization_url: str, *, sub: str) -> str:
        """Return the redirect back to the client, as if ``sub`` approved the request."""
        query = {
            name: values[0] for name, values in parse_qs(urlsplit(authorization_url).query).items()
        }
        code = secrets.token_urlsafe(16)
        self._grants[code] = {**query, "sub": sub}
        return f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query['state']})}"

    def _answer(self, received: Received) -> Reply:
        path = urlsplit(received.path).path
        if path == "/.well-known/openid-configuration":
            return _json(
                {
                    "issuer": self.issuer,
                    "authorization_endpoint": f"{self.url}/authorize",
                    "token_endpoint": f"{self.url}/token",
                    "userinfo_endpoint": f"{self.url}/userinfo",
                    "jwks_uri": f"{self.url}/jwks",
                }
            )
        if path == "/jwks":
            return _json({"keys": [self.key.public_jwk()]})
        if path == "/token":
            return self._token(parse_qs(received.body.decode()))
        if path == "/userinfo":
            sub = received.headers.get("authorization", "").removeprefix("Bearer at-")
            return _json({"sub": sub, **self.claims})
        return Reply(status=404, body=b"{}")

    def _token(self, form: dict[str, list[str]]) -> Reply:
        grant = self._grants.pop(form["code"][0], None)
        if grant is None:
            return Reply(status=400, body=b'{"error": "invalid_grant"}')
        verifier = form.get("code_verifier", [""])[0]
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        if challenge.rstrip(b"=").decode() != grant.get("code_challenge"):
            return Reply(
                status=400, body=b'{"error": "invalid_grant", "error_description": "PKCE"}'
            )
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": self.client_id,
            "sub": grant["sub"],
            "nonce": grant.get("nonce"),
            "iat": now,
            "exp": now + 300,
            **self.id_token_overrides,
        }
        id_token = jwt.encode(
            claims, self.key.private_key, algorithm="RS256", headers={"kid": self.key.kid}
        )
        return _json(
            {"access_token": f"at-{grant['sub']}", "token_type": "Bearer", "id_token": id_token}
        )


def _json(document: dict[str, Any]) -> Reply:
    return Reply(body=json.dumps(document).encode())
