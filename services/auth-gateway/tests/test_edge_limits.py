"""Slow and greedy clients at the edge: read deadlines, the per-address cap, and that the
gateway keeps answering everyone else meanwhile. Every wait is bounded; none is measured."""

import json
import socket
import time

import pytest
import requests

from tests.conftest import signed_by_gateway

pytestmark = pytest.mark.django_db

# Upper bound of any wait here; the deadlines under test are far shorter.
PATIENCE_SECONDS = 15


def connect(server, *, source: str = "127.0.0.1") -> socket.socket:
    connection = socket.create_connection(
        ("127.0.0.1", server.port), timeout=PATIENCE_SECONDS, source_address=(source, 0)
    )
    return connection


def read_until_closed(connection: socket.socket) -> bytes:
    """Return everything the server sends until it closes the connection."""
    answer = b""
    while chunk := connection.recv(65536):
        answer += chunk
    return answer


def status_and_error(answer: bytes) -> tuple[int, dict]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), json.loads(body)["error"]


@pytest.fixture(autouse=True)
def _no_trusted_proxy(settings) -> None:
    settings.TRUSTED_PROXY_NETWORKS = []


def test_headers_that_do_not_arrive_in_time_get_a_408_and_the_connection_closes(
    settings, edge_server, catalog
) -> None:
    settings.EDGE_HEADER_TIMEOUT_SECONDS = 0.2
    with connect(edge_server) as connection:
        connection.sendall(b"GET /products/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        status, error = status_and_error(read_until_closed(connection))
    assert status == 408
    assert error["code"] == "request_timeout"
    assert error["details"]["timeout_seconds"] == 0.2
    assert "headers" in error["message"]
    assert catalog.received == []


def test_a_connection_that_sends_nothing_is_closed_at_the_header_deadline(
    settings, edge_server
) -> None:
    settings.EDGE_HEADER_TIMEOUT_SECONDS = 0.2
    with connect(edge_server) as connection:
        status, error = status_and_error(read_until_closed(connection))
    assert (status, error["code"]) == (408, "request_timeout")


def test_a_proxied_body_that_does_not_arrive_in_time_gets_a_408_and_is_never_forwarded(
    settings, edge_server, orders
) -> None:
    settings.EDGE_BODY_TIMEOUT_SECONDS = 0.2
    with connect(edge_server) as connection:
        connection.sendall(
            b"POST /orders/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {signed_by_gateway()}\r\n".encode()
            + b"Content-Length: 100\r\n\r\n"
            + b'{"items": '
        )
        status, error = status_and_error(read_until_closed(connection))
    assert status == 408
    assert error["code"] == "request_timeout"
    assert error["details"]["timeout_seconds"] == 0.2
    assert "body" in error["message"]
    assert orders.received == []


def test_a_body_for_the_gateways_own_views_has_the_same_deadline(settings, edge_server) -> None:
    settings.EDGE_BODY_TIMEOUT_SECONDS = 0.2
    with connect(edge_server) as connection:
        connection.sendall(
            b"POST /auth/token/refresh/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
        )
        status, error = status_and_error(read_until_closed(connection))
    assert (status, error["code"]) == (408, "request_timeout")


def test_a_client_address_over_its_connection_cap_is_refused_and_others_are_not(
    settings, edge_server
) -> None:
    settings.EDGE_MAX_CONNECTIONS_PER_CLIENT = 2
    greedy = []
    try:
        for _ in range(2):  # answered, and kept open (keep-alive)
            connection = connect(edge_server, source="127.0.0.3")
            connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert connection.recv(65536).startswith(b"HTTP/1.1 200")
            greedy.append(connection)
        with connect(edge_server, source="127.0.0.3") as third:
            status, error = status_and_error(read_until_closed(third))
        assert status == 503
        assert error["code"] == "too_many_connections"
        assert error["details"]["max_connections"] == 2
        # Another address is not affected.
        assert requests.get(f"{edge_server.url}/healthz", timeout=PATIENCE_SECONDS).ok
        # Once one of the two closes, the address may connect again.
        greedy.pop().close()
        for _attempt in range(100):
            with connect(edge_server, source="127.0.0.3") as again:
                again.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                if again.recv(65536).startswith(b"HTTP/1.1 200"):
                    break
            time.sleep(0.05)
        else:
            pytest.fail("the address stayed refused after one of its connections closed")
    finally:
        for connection in greedy:
            connection.close()


def test_the_gateway_answers_while_slow_clients_hold_connections(
    settings, edge_server, catalog
) -> None:
    settings.EDGE_HEADER_TIMEOUT_SECONDS = settings.EDGE_BODY_TIMEOUT_SECONDS = 60
    settings.EDGE_MAX_CONNECTIONS_PER_CLIENT = 0
    slow = []
    try:
        for number in range(40):
            connection = connect(edge_server, source="127.0.0.2")
            if number % 4:  # headers that never end
                connection.sendall(b"GET /products/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: 1")
            else:  # a body that never ends
                connection.sendall(
                    b"POST /products/upload/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    + f"Authorization: Bearer {signed_by_gateway()}\r\n".encode()
                    + b"Content-Length: 1000\r\n\r\n{"
                )
            slow.append(connection)
        assert requests.get(f"{edge_server.url}/healthz", timeout=PATIENCE_SECONDS).ok
        assert requests.get(f"{edge_server.url}/products/", timeout=PATIENCE_SECONDS).ok
        assert catalog.received[-1].path == "/products/"
    finally:
        for connection in slow:
            connection.close()
