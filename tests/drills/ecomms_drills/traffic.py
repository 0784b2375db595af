"""What a drill's client does and sees: orders placed through the gateway, one at a time or in a
burst from a few threads, each reply kept with its status, error code and duration."""

import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass

import requests
from ecomms_e2e.client import Api

GIVE_UP_SECONDS = 60.0  # a client retrying one order with its Idempotency-Key stops after this


@dataclass(frozen=True)
class Reply:
    status: int  # 0: no HTTP answer (connection refused or reset, timeout)
    code: str  # the error's code, "" for a success
    seconds: float
    order_id: int | None = None


def place(api: Api, product_id: int, *, key: str | None = None) -> Reply:
    """Place one order of one product and return what the client saw."""
    started = time.monotonic()
    try:
        response = api.place_order([(product_id, 1)], key=key)
    except requests.RequestException as exc:
        return Reply(0, type(exc).__name__, time.monotonic() - started)
    seconds = time.monotonic() - started
    try:
        body = response.json()
    except ValueError:
        return Reply(response.status_code, "not JSON", seconds)
    if response.status_code == 201:
        return Reply(201, "", seconds, body["id"])
    return Reply(response.status_code, body.get("error", {}).get("code", "?"), seconds)


def worth_retrying(reply: Reply) -> bool:
    """A lost answer, a 5xx, or the key still held by an earlier attempt that died."""
    return reply.status in (0, 409) or reply.status >= 500


def place_until_created(api: Api, product_id: int) -> list[Reply]:
    """Place one order as a careful client does: one Idempotency-Key, the same request again
    while :func:`worth_retrying` says so. Return every reply (the last is 201 unless it gave up)."""
    key = str(uuid.uuid4())
    deadline = time.monotonic() + GIVE_UP_SECONDS
    replies = [place(api, product_id, key=key)]
    while worth_retrying(replies[-1]) and time.monotonic() < deadline:
        time.sleep(0.3)
        replies.append(place(api, product_id, key=key))
    return replies


class Burst:
    """``count`` orders placed by ``threads`` clients at once, in the background."""

    def __init__(self, api: Api, product_id: int, count: int, *, threads: int = 3, careful=False):
        self._api, self._product_id, self._careful = api, product_id, careful
        self._left = count
        self._lock = threading.Lock()
        self.orders: list[list[Reply]] = []  # per order: every reply the client got
        self._threads = [threading.Thread(target=self._client, daemon=True) for _ in range(threads)]

    def start(self) -> "Burst":
        for thread in self._threads:
            thread.start()
        return self

    def _client(self) -> None:
        while True:
            with self._lock:
                if self._left == 0:
                    return
                self._left -= 1
            if self._careful:
                replies = place_until_created(self._api, self._product_id)
            else:
                replies = [place(self._api, self._product_id, key=str(uuid.uuid4()))]
            with self._lock:
                self.orders.append(replies)

    def answered(self) -> int:
        with self._lock:
            return len(self.orders)

    def wait_until_answered(self, count: int, *, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.answered() < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {self.answered()} of {count} orders answered")
            time.sleep(0.05)

    def join(self, *, timeout: float) -> list[list[Reply]]:
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if any(thread.is_alive() for thread in self._threads):
            raise TimeoutError(f"the burst was still running after {timeout:.0f} s")
        return self.orders

    def replies(self) -> list[Reply]:
        return [reply for replies in self.orders for reply in replies]


def describe(replies: list[Reply]) -> str:
    """``201 x9, 503 catalog_unavailable x3 (slowest 0.4 s)``."""
    if not replies:
        return "nothing"
    seen = Counter(f"{r.status} {r.code}".strip() if r.status else r.code for r in replies)
    slowest = max(r.seconds for r in replies)
    kinds = ", ".join(f"{kind} x{count}" for kind, count in sorted(seen.items()))
    return f"{kinds} (slowest {slowest:.1f} s)"
