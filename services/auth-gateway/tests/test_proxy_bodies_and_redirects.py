"""What the proxy does with request bodies (one limit, one 413) and with a service's redirects."""

import socket

import pytest
import requests

from tests.conftest import signed_by_gateway
from tests.servers import Received, Reply

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(gateway):
    """Proxied paths through the real edge server; the gateway's own paths through Django."""
    return gateway


# A 10,000-product upload is about 3.8 MB of JSON: over Django's 2.5 MB default, under 32 MiB.
UPLOAD = b'{"products": [' + b",".join([b'{"name": "tea", "price": "2.00"}'] * 120_000) + b"]}"


def test_an_upload_of_about_4_mb_reaches_the_service_intact(client, settings, catalog) -> None:
    assert settings.REQUEST_BODY_MAX_BYTES < len(UPLOAD) < settings.PROXY_BODY_MAX_BYTES
    catalog.reply = Reply(status=201, body=b'{"created": 10000}')
    response = client.post(
        "/products/upload/",
        data=UPLOAD,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {signed_by_gateway()}",
    )
    assert response.status_code == 201
    assert b"".join(response.streaming_content) == b'{"created": 10000}'
    assert catalog.received[0].body == UPLOAD


def test_a_body_over_the_proxy_limit_is_one_413_naming_the_limit(client, settings, catalog) -> None:
    settings.PROXY_BODY_MAX_BYTES = 1_000_000
    response = client.post(
        "/products/upload/",
        data=UPLOAD,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {signed_by_gateway()}",
    )
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "payload_too_large"
    assert error["details"]["max_bytes"] == 1_000_000
    assert error["details"]["content_length"] == len(UPLOAD)
    assert catalog.received == []


def test_the_gateways_own_views_keep_their_small_limit(client, settings) -> None:
    response = client.post("/auth/token/refresh/", data=UPLOAD, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["error"]["details"]["max_bytes"] == settings.REQUEST_BODY_MAX_BYTES


@pytest.mark.parametrize("length", ["lots", "-1", "1e3", "+5"])
def test_a_garbage_content_length_is_a_json_400(client, catalog, length) -> None:
    response = client.generic(
        "POST",
        "/products/upload/",
        data=b"{}",
        CONTENT_LENGTH=length,
        HTTP_AUTHORIZATION=f"Bearer {signed_by_gateway()}",
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"
    assert catalog.received == []


def test_a_body_shorter_than_its_content_length_is_a_json_400(edge_server, catalog) -> None:
    host, port = edge_server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(
            b"POST /products/upload/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: 100\r\n"
            + f"Authorization: Bearer {signed_by_gateway()}\r\n\r\n".encode()
            + b'{"products": []}'
        )
        connection.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), head
    assert b'"code": "bad_request"' in body
    assert catalog.received == []


def test_a_services_308_passes_through_and_a_client_following_it_still_posts(
    edge_server, orders
) -> None:
    def orders_service(received: Received) -> Reply:
        if received.path.startswith("/orders?"):
            return Reply(status=308, headers={"Location": "/orders/?dry=1"}, body=b"")
        return Reply(status=201, body=b'{"placed": true}')

    orders.respond = orders_service
    headers = {"Authorization": f"Bearer {signed_by_gateway()}", "Content-Type": "application/json"}
    order = b'{"items": [{"product_id": 1, "quantity": 2}]}'

    redirect = requests.post(
        f"{edge_server.url}/orders?dry=1",
        data=order,
        headers=headers,
        allow_redirects=False,
        timeout=10,
    )
    assert redirect.status_code == 308
    assert redirect.headers["Location"] == "/orders/?dry=1"

    placed = requests.post(
        f"{edge_server.url}/orders?dry=1", data=order, headers=headers, timeout=10
    )
    assert placed.status_code == 201
    assert placed.json() == {"placed": True}
    assert placed.history[0].status_code == 308
    last = orders.received[-1]
    assert (last.method, last.path, last.body) == ("POST", "/orders/?dry=1", order)
