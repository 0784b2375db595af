"""Rate limits kept in Redis: they hold across processes, by the real client, and fail open."""

import asyncio
import socket
import time
import uuid
from collections.abc import Iterator

import pytest
import redis
import requests
from gateway.ratelimit import (
    Refusal,
    _Lease,
    lease_size,
    limit_refusal,
    limits_for,
    parse_rate,
    refusal_response,
)
from prometheus_client import REGISTRY

from tests.gateway_processes import GatewayProcess
from tests.servers import HTTPStandIn


def gateways(catalog: HTTPStandIn, signing_pem: str, **env: str) -> list[GatewayProcess]:
    """Start two gateway servers (two workers each) sharing one Redis key prefix."""
    env = {
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/unused",
        "JWT_PRIVATE_KEY": signing_pem,
        "CATALOG_URL": catalog.url,
        "RATE_LIMIT_KEY_PREFIX": f"gateway-tests-{uuid.uuid4().hex}",
        **env,
    }
    started: list[GatewayProcess] = []
    try:
        for _ in range(2):
            started.append(GatewayProcess(env))
    except Exception:
        for process in started:
            process.stop()
        raise
    return started


@pytest.fixture
def upstream() -> Iterator[HTTPStandIn]:
    server = HTTPStandIn()
    yield server
    server.close()


def test_a_limit_holds_across_two_processes_whatever_forwarded_headers_a_client_sends(
    upstream, signing_pem
) -> None:
    servers = gateways(upstream, signing_pem, RATE_LIMIT="20/m", TRUSTED_PROXY_NETWORKS="")
    try:
        statuses = []
        for number in range(100):
            spoofed = f"203.0.113.{number}"
            response = requests.get(
                f"{servers[number % 2].url}/products/",
                headers={
                    "X-Forwarded-For": spoofed,
                    "X-Real-IP": spoofed,
                    "Forwarded": f"for={spoofed}",
                },
                timeout=5,
            )
            statuses.append(response.status_code)
    finally:
        for server in servers:
            server.stop()
    assert statuses.count(200) == 20
    assert statuses.count(429) == 80
    assert statuses[:20] == [200] * 20
    assert len(upstream.received) == 20


def test_a_trusted_proxys_forwarded_for_gives_each_client_behind_it_its_own_budget(
    upstream, signing_pem
) -> None:
    servers = gateways(
        upstream, signing_pem, RATE_LIMIT="20/m", TRUSTED_PROXY_NETWORKS="127.0.0.1/32"
    )
    passed = {"198.51.100.1": 0, "198.51.100.2": 0}
    try:
        for number in range(100):
            client = f"198.51.100.{number % 2 + 1}"
            # What the client wrote itself (left) changes every call; the proxy appends the peer.
            response = requests.get(
                f"{servers[number // 2 % 2].url}/products/",
                headers={"X-Forwarded-For": f"192.0.2.{number}, {client}"},
                timeout=5,
            )
            passed[client] += response.status_code == 200
    finally:
        for server in servers:
            server.stop()
    assert passed == {"198.51.100.1": 20, "198.51.100.2": 20}


def test_login_and_token_paths_have_a_stricter_limit_per_address(client, settings) -> None:
    settings.RATE_LIMIT = "100/m"
    settings.AUTH_RATE_LIMIT = "5/m"
    statuses = [client.post("/auth/token/refresh/", {}).status_code for _ in range(7)]
    assert 429 not in statuses[:5]
    assert statuses[5:] == [429, 429]
    refused = client.post("/auth/token/refresh/", {})
    assert refused.json()["error"]["details"]["limit"] == "5/m"
    assert 1 <= int(refused["Retry-After"]) <= 60
    # The stricter budget is the login's only: the rest of the API still answers.
    assert client.get("/.well-known/jwks.json").status_code == 200


def test_the_stricter_limit_counts_every_login_path_together(client, settings) -> None:
    settings.AUTH_RATE_LIMIT = "3/m"
    for path in ("/auth/token/refresh/", "/auth/logout/", "/auth/token/"):
        assert client.post(path, {}).status_code != 429
    assert client.get("/oidc/authenticate/").status_code == 429


def test_a_store_that_does_not_answer_lets_calls_through_without_a_hang(
    gateway, settings, catalog
) -> None:
    # Accepts connections (the kernel's backlog) but never answers a command.
    silent = socket.create_server(("127.0.0.1", 0))
    settings.RATE_LIMIT_STORE_URL = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
    settings.RATE_LIMIT = "1/m"
    before = REGISTRY.get_sample_value("gateway_rate_limit_store_errors_total") or 0
    try:
        started = time.monotonic()
        statuses = [gateway.get("/products/").status_code for _ in range(20)]
        elapsed = time.monotonic() - started
    finally:
        silent.close()
    assert statuses == [200] * 20
    # One 50 ms timeout, then the store rests: no call waits on it again.
    assert elapsed < 2.0
    after = REGISTRY.get_sample_value("gateway_rate_limit_store_errors_total")
    assert after - before == 20


def test_a_refused_store_connection_lets_calls_through(gateway, settings, catalog) -> None:
    settings.RATE_LIMIT_STORE_URL = "redis://127.0.0.1:1/0"
    settings.RATE_LIMIT = "1/m"
    assert [gateway.get("/products/").status_code for _ in range(3)] == [200, 200, 200]


def test_the_async_check_shares_the_budget_and_returns_a_refusal(client, settings) -> None:
    settings.RATE_LIMIT = "2/m"
    ((key, rate),) = limits_for(path="/products/", subject=None, address="127.0.0.1")
    assert client.get("/.well-known/jwks.json").status_code == 200  # counted as 127.0.0.1

    async def twice() -> list[Refusal | None]:
        return [await limit_refusal(key=key, rate=rate) for _ in range(2)]

    first, second = asyncio.run(twice())
    assert first is None
    assert second == Refusal(limit="2/m", retry_after_seconds=second.retry_after_seconds)
    assert 1 <= second.retry_after_seconds <= 60
    response = refusal_response(second)
    assert response.status_code == 429
    assert response["Retry-After"] == str(second.retry_after_seconds)


def test_leased_permits_stay_within_the_documented_margin_across_processes(
    upstream, signing_pem
) -> None:
    # 400/h: each worker leases 4 permits at a time; 2 processes of 2 workers may hold 3 each
    # unspent, so between 400 - 12 and 400 calls pass in one window, never more. (An hour, so
    # that all 450 calls fall in one window however slowly a loaded machine makes them.)
    servers = gateways(upstream, signing_pem, RATE_LIMIT="400/h", TRUSTED_PROXY_NETWORKS="")
    try:
        with requests.Session() as first, requests.Session() as second:
            sessions = (first, second)
            statuses = [
                sessions[number % 2]
                .get(f"{servers[number % 2].url}/products/", timeout=5)
                .status_code
                for number in range(450)
            ]
    finally:
        for server in servers:
            server.stop()
    assert set(statuses) == {200, 429}
    assert 400 - 2 * 2 * 3 <= statuses.count(200) <= 400
    assert len(upstream.received) == statuses.count(200)


def test_a_lease_takes_the_last_permits_one_by_one_and_counts_each_in_redis(settings) -> None:
    settings.RATE_LIMIT_KEY_PREFIX = f"gateway-tests-{uuid.uuid4().hex}"
    rate, key = "300/m", "ip:192.0.2.7"
    assert lease_size(parse_rate(rate)) == 3
    store = redis.Redis.from_url(settings.RATE_LIMIT_STORE_URL)
    stored = f"{settings.RATE_LIMIT_KEY_PREFIX}:{parse_rate(rate).key_for(key)}"

    async def calls(count: int) -> list[Refusal | None]:
        return [await limit_refusal(key=key, rate=rate) for _ in range(count)]

    async def scenario() -> tuple[list[Refusal | None], list[int]]:
        answers, recorded = [], []
        for count in (1, 2, 1):  # one lease of 3, spent; the fourth call takes a new lease
            answers += await calls(count)
            recorded.append(store.llen(stored))
        return answers, recorded

    answers, recorded = asyncio.run(scenario())
    assert answers == [None] * 4
    assert recorded == [3, 3, 6]

    # 298 of 300 recorded: a lease of 3 no longer fits, the last two pass one at a time.
    store.delete(stored)
    store.lpush(stored, *[time.time()] * 298)
    answers = asyncio.run(calls(3))
    assert answers[:2] == [None, None]
    assert isinstance(answers[2], Refusal)
    assert store.llen(stored) == 300
    store.delete(stored)


def test_a_permit_is_not_spent_after_the_window_it_was_recorded_in() -> None:
    lease = _Lease()
    lease.fill(2, until=time.monotonic() + 60)
    assert lease.spend() and lease.permits == 1
    lease.fill(2, until=time.monotonic() - 0.001)
    assert not lease.spend()
    assert lease.permits == 2


def test_ipv6_clients_are_counted_by_their_64() -> None:
    one = limits_for(path="/products/", subject=None, address="2001:db8:1:2::5")
    other = limits_for(path="/products/", subject=None, address="2001:db8:1:2:ffff::9")
    assert one == other
    assert one[0][0] == "ip:2001:db8:1:2::/64"


def test_a_tokens_subject_is_its_own_client_and_probes_are_never_counted() -> None:
    assert limits_for(path="/orders/", subject="abc", address="127.0.0.1")[0][0] == "sub:abc"
    assert limits_for(path="/healthz", subject=None, address="127.0.0.1") == []
