"""An API client of the gateway, and readers of what the SMS and SMTP stand-ins received.

Used by the end-to-end tests and by ``make demo``; it only speaks HTTP to the gateway and reads
the files the stand-ins write (``ecomms-sms-standin --record FILE``,
``ecomms-smtp-sink --maildir DIR``).
"""

import base64
import email
import email.policy
import json
import time
from collections.abc import Callable, Iterable
from decimal import ROUND_HALF_UP, Decimal
from email.message import EmailMessage
from pathlib import Path
from typing import Any, TypeVar

import requests

T = TypeVar("T")
TIMEOUT = 30  # seconds for one HTTP call; the machine may be busy


class LoginFailed(Exception):
    pass


def login(gateway: str, sub: str) -> dict[str, Any]:
    """Log in as ``sub`` through the gateway's OIDC code flow with the local provider's login
    form (what a browser does), and return the gateway's token pair ``{"access", "refresh"}``."""
    session = requests.Session()
    start = session.get(
        f"{gateway}/oidc/authenticate/?next=/auth/token/", allow_redirects=False, timeout=TIMEOUT
    )
    if start.status_code != 302:
        raise LoginFailed(f"gateway did not redirect to the provider: {start.status_code}")
    form = session.post(
        start.headers["Location"], data={"sub": sub}, allow_redirects=False, timeout=TIMEOUT
    )
    if form.status_code not in (302, 303):
        raise LoginFailed(f"provider refused the login: {form.status_code} {form.text[:200]}")
    callback = session.get(form.headers["Location"], allow_redirects=False, timeout=TIMEOUT)
    if callback.status_code != 302 or "/auth/token/" not in callback.headers.get("Location", ""):
        raise LoginFailed(f"callback failed: {callback.status_code} {callback.headers}")
    tokens = session.get(
        f"{gateway}/auth/token/", headers={"Accept": "application/json"}, timeout=TIMEOUT
    )
    if tokens.status_code != 200:
        raise LoginFailed(f"no tokens: {tokens.status_code} {tokens.text[:200]}")
    return tokens.json()


def token_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT, read without verifying it (for display and tests only)."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


class Api:
    """Calls to the gateway with one user's bearer token (or none)."""

    def __init__(self, gateway: str, access: str | None = None) -> None:
        self.gateway = gateway.rstrip("/")
        self.session = requests.Session()
        if access:
            self.session.headers["Authorization"] = f"Bearer {access}"

    @classmethod
    def logged_in(cls, gateway: str, sub: str) -> "Api":
        return cls(gateway, login(gateway, sub)["access"])

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", TIMEOUT)
        return self.session.request(method, f"{self.gateway}{path}", **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("PATCH", path, **kwargs)

    def category_slug(self, path: list[str]) -> str:
        """The slug of the category at ``path`` (names from the root down)."""
        # The tree answers its top levels only (default 2): ask for as many as the path has.
        response = self.get("/categories/", params={"depth": max(len(path), 1)})
        response.raise_for_status()
        return find_slug(response.json(), path)

    def average_price(self, slug: str, currency: str = "USD") -> dict[str, Any]:
        response = self.get(f"/categories/{slug}/average_price/", params={"currency": currency})
        response.raise_for_status()
        return response.json()

    def place_order(
        self, items: list[tuple[int, int]], *, key: str | None = None, currency: str = "USD"
    ) -> requests.Response:
        body = {
            "items": [{"product_id": product, "quantity": quantity} for product, quantity in items],
            "currency": currency,
        }
        headers = {"Idempotency-Key": key} if key else {}
        return self.post("/orders/", json=body, headers=headers)


def find_slug(trees: Any, path: list[str]) -> str:
    """Walk ``GET /categories/``'s nested trees down ``path`` and return the last node's slug."""
    nodes = trees["categories"] if isinstance(trees, dict) else trees
    node: dict[str, Any] = {}
    for name in path:
        matches = [n for n in nodes if n["name"].casefold() == name.casefold()]
        if not matches:
            raise KeyError(f"no category {name!r} on the path {path}")
        node = matches[0]
        nodes = node["children"]
    return node["slug"]


def expected_average(products: Iterable[dict[str, Any]], prefix: list[str], currency="USD"):
    """Recompute ``average_price`` of the category at ``prefix`` from an upload's products: every
    product of ``currency`` with a category path under ``prefix`` counts once; half-up to cents."""
    prices = [
        Decimal(product["price"])
        for product in products
        if product["currency"] == currency
        and any(path[: len(prefix)] == prefix for path in product["categories"])
    ]
    if not prices:
        return None, 0
    average = (sum(prices) / len(prices)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return average, len(prices)


def read_sms(record: Path) -> list[dict[str, Any]]:
    """Every message the SMS stand-in accepted (``ecomms-sms-standin --record``), oldest first."""
    if not record.exists():
        return []
    lines = record.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def read_mail(maildir: Path) -> list[EmailMessage]:
    """Every mail the SMTP sink kept (``ecomms-smtp-sink --maildir DIR``), oldest first."""
    if not maildir.is_dir():
        return []
    files = sorted(maildir.glob("*.eml"), key=lambda file: file.stat().st_mtime)
    return [
        email.message_from_bytes(file.read_bytes(), policy=email.policy.default)  # type: ignore[misc]
        for file in files
    ]


def wait_for[T](check: Callable[[], T], *, timeout: float, what: str, every: float = 0.2) -> T:
    """Call ``check`` until it returns something truthy, for at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout:.0f} s for {what}")
        time.sleep(every)
