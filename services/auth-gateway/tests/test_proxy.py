import base64
import gzip
import json
import logging
import time
import uuid
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests
from django_guid.log_filters import CorrelationId

from tests.conftest import CLIENT_ID, private_pem, signed_by_gateway, start_login
from tests.edge import EdgeClient
from tests.servers import Reply

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(gateway):
    """Proxied paths through the real edge server; the gateway's own paths through Django."""
    return gateway


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_expired_within_leeway_is_still_accepted(client, orders) -> None:
    token = signed_by_gateway(iat=int(time.time()) - 400, exp=int(time.time()) - 5)
    assert client.get("/orders/", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200


def test_a_token_accepted_before_is_still_refused_once_it_expires(client, settings, orders) -> None:
    settings.JWT_LEEWAY_SECONDS = 0
    expires = int(time.time()) + 1
    token = signed_by_gateway(exp=expires)
    assert client.get("/orders/", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200
    while time.time() <= expires:  # the first answer may have come from the verified-token cache
        time.sleep(0.05)
    response = client.get("/orders/", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_expired"
    assert len(orders.received) == 1


@pytest.mark.parametrize(
    "change",
    [
        {"JWT_PRIVATE_KEY": "rotated"},  # the key it was signed with is no longer published
        {"JWT_AUDIENCE": "another-api"},
        {"JWT_ISSUER": "https://another-gateway.example"},
    ],
    ids=["key_retired", "audience_changed", "issuer_changed"],
)
def test_a_token_accepted_before_is_refused_once_it_no_longer_verifies(
    client, settings, orders, change
) -> None:
    token = signed_by_gateway()
    assert client.get("/orders/", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200
    for name, value in change.items():
        setattr(settings, name, private_pem() if value == "rotated" else value)
    assert client.get("/orders/", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401
    assert len(orders.received) == 1


def test_bad_token_on_a_public_catalog_read_is_refused_too(client, catalog) -> None:
    token = signed_by_gateway(aud="another-api")
    assert client.get("/products/", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401
    assert catalog.received == []


def test_refresh_token_is_not_an_access_token(client, orders, token_pair) -> None:
    refresh = token_pair().refresh
    response = client.get("/orders/", HTTP_AUTHORIZATION=f"Bearer {refresh}")
    assert response.status_code == 401
    assert "at+jwt" in response.json()["error"]["message"]
    assert orders.received == []


def test_the_providers_own_id_token_is_not_an_access_token(client, provider, orders) -> None:
    authorization_url = start_login(client)
    callback = provider.approve(authorization_url, sub="rita")
    code = parse_qs(urlsplit(callback).query)["code"][0]
    redirect_uri = parse_qs(urlsplit(authorization_url).query)["redirect_uri"][0]
    grant = requests.post(
        f"{provider.url}/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": CLIENT_ID,
            "client_secret": "tests-secret",
        },
        timeout=5,
    )
    id_token = grant.json()["id_token"]
    assert jwt.get_unverified_header(id_token)["alg"] == "RS256"
    response = client.get("/orders/", HTTP_AUTHORIZATION=f"Bearer {id_token}")
    assert response.status_code == 401
    assert orders.received == []


def test_revoked_refresh_token_is_refused(client, token_pair) -> None:
    refresh = token_pair().refresh
    client.post("/auth/logout/", {"refresh": refresh}, content_type="application/json")
    response = client.post(
        "/auth/token/refresh/", {"refresh": refresh}, content_type="application/json"
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "refresh_token_revoked"


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer a b"])
def test_authorization_that_is_not_one_bearer_token_is_refused(client, orders, header) -> None:
    assert client.get("/orders/", HTTP_AUTHORIZATION=header).status_code == 401
    assert orders.received == []


def test_public_catalog_reads_need_no_token(client, catalog) -> None:
    catalog.reply = Reply(body=b'{"count": 1, "results": [{"id": 7}]}')
    response = client.get("/products/?page=2&search=tea")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b'{"count": 1, "results": [{"id": 7}]}'
    assert catalog.received[0].method == "GET"
    assert catalog.received[0].path == "/products/?page=2&search=tea"
    assert client.get("/categories/shoes/average_price/").status_code == 200
    assert catalog.received[1].path == "/categories/shoes/average_price/"


@pytest.mark.parametrize(
    ("method", "path"),
    [("post", "/products/upload/"), ("post", "/categories/"), ("get", "/orders/")],
)
def test_everything_but_catalog_reads_needs_a_token(client, catalog, orders, method, path) -> None:
    response = getattr(client, method)(path)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert catalog.received == [] and orders.received == []


def test_call_reaches_the_service_with_its_token_and_forwarding_headers(
    client, orders, token_pair, settings
) -> None:
    settings.TRUSTED_PROXY_NETWORKS = ["127.0.0.1/32"]  # the test client stands for an Ingress
    access = token_pair().access
    request_id = str(uuid.uuid4())
    client.cookies["sessionid"] = "the-gateway-session"
    response = client.post(
        "/orders/?dry=1",
        data=b'{"items": [{"product_id": 1, "quantity": 2}]}',
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {access}",
        HTTP_X_REQUEST_ID=request_id,
        HTTP_IDEMPOTENCY_KEY="key-1",
        HTTP_X_FORWARDED_FOR="203.0.113.9",
        HTTP_CONNECTION="keep-alive, X-Drop-Me",
        HTTP_X_DROP_ME="secret",
        HTTP_KEEP_ALIVE="timeout=5",
        HTTP_TE="trailers",
        HTTP_PROXY_AUTHORIZATION="Basic Zm9vOmJhcg==",
    )
    assert response.status_code == 200
    seen = orders.received[0]
    assert seen.method == "POST"
    assert seen.path == "/orders/?dry=1"
    assert seen.body == b'{"items": [{"product_id": 1, "quantity": 2}]}'
    assert seen.headers["authorization"] == f"Bearer {access}"
    assert seen.headers["content-type"] == "application/json"
    assert seen.headers["idempotency-key"] == "key-1"
    assert seen.headers["x-request-id"] == request_id
    assert seen.headers["x-forwarded-for"] == "203.0.113.9, 127.0.0.1"
    assert seen.headers["x-forwarded-proto"] == "http"
    assert seen.headers["x-forwarded-host"] == "testserver"
    assert seen.headers["forwarded"] == (
        "for=203.0.113.9, for=127.0.0.1;host=testserver;proto=http"
    )
    for dropped in ("x-drop-me", "keep-alive", "te", "proxy-authorization", "cookie"):
        assert dropped not in seen.headers, dropped
    assert seen.headers["host"] == urlsplit(orders.url).netloc


@pytest.mark.parametrize("sent", [None, "not-a-uuid"])
def test_request_id_is_generated_when_the_client_sends_none_or_no_uuid(
    client, catalog, sent
) -> None:
    response = client.get("/products/", **({"HTTP_X_REQUEST_ID": sent} if sent else {}))
    assert uuid.UUID(catalog.received[0].headers["x-request-id"])
    assert response["X-Request-ID"] == catalog.received[0].headers["x-request-id"]


def test_the_answer_carries_one_request_id(client, catalog) -> None:
    # The service echoes the id it was sent (django-guid); the gateway answers with its own.
    request_id = str(uuid.uuid4())
    catalog.reply = Reply(
        headers={"Content-Type": "application/json", "X-Request-ID": request_id}, body=b"{}"
    )
    response = client.get("/products/", HTTP_X_REQUEST_ID=request_id)
    assert response.headers.get_all("X-Request-ID") == [request_id]


def test_response_streams_back_unchanged(client, catalog) -> None:
    body = gzip.compress(b'{"name": "tea"}' * 1000)
    catalog.reply = Reply(
        status=201,
        headers={
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
            "ETag": '"v1"',
            "X-Catalog-Version": "7",
            "Location": "/products/9/",
            "Connection": "keep-alive",
            "Keep-Alive": "timeout=5",
        },
        body=body,
    )
    response = client.get("/products/9/")
    assert response.status_code == 201
    assert response.streaming
    assert b"".join(response.streaming_content) == body  # still gzip: bytes as sent
    assert response["Content-Encoding"] == "gzip"
    assert response["Content-Length"] == str(len(body))
    assert response["ETag"] == '"v1"'
    assert response["X-Catalog-Version"] == "7"
    assert response["Location"] == "/products/9/"
    assert not response.has_header("Keep-Alive")
    assert not response.has_header("Connection")


def test_a_cookie_set_by_a_service_never_reaches_another_client(client, catalog) -> None:
    catalog.reply = Reply(headers={"Set-Cookie": "owner=alice; Path=/"}, body=b"{}")
    first = client.get("/products/")
    b"".join(first.streaming_content)
    catalog.reply = Reply()
    b"".join(EdgeClient(client.server).get("/products/").streaming_content)
    assert "cookie" not in catalog.received[1].headers


def test_no_content_answer_gains_no_content_type(client, orders, token_pair) -> None:
    orders.reply = Reply(status=204, headers={}, body=b"")
    response = client.post("/orders/1/cancel/", HTTP_AUTHORIZATION=f"Bearer {token_pair().access}")
    assert response.status_code == 204
    assert not response.has_header("Content-Type")


def test_upstream_errors_pass_through_as_they_are(client, catalog) -> None:
    catalog.reply = Reply(status=404, body=b'{"error": {"code": "not_found"}}')
    response = client.get("/products/999/")
    assert response.status_code == 404
    assert b"".join(response.streaming_content) == b'{"error": {"code": "not_found"}}'


def test_upstream_connections_are_reused(client, catalog) -> None:
    for _ in range(3):
        response = client.get("/products/")
        b"".join(response.streaming_content)
        response.close()
    assert len({seen.client_port for seen in catalog.received}) == 1


def test_a_read_is_sent_again_when_a_pooled_connection_was_closed_under_it(client, catalog) -> None:
    answers = iter([Reply(raw=b""), Reply(body=b'{"count": 0}')])  # closed without a word
    catalog.respond = lambda received: next(answers)
    response = client.get("/products/")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b'{"count": 0}'
    assert [seen.path for seen in catalog.received] == ["/products/", "/products/"]


def test_a_call_with_a_body_is_never_sent_twice(client, orders, token_pair) -> None:
    orders.respond = lambda received: Reply(raw=b"")
    response = client.post(
        "/orders/",
        data=b'{"items": []}',
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token_pair().access}",
    )
    assert response.status_code == 502
    assert len(orders.received) == 1


def test_proxied_calls_are_counted_in_the_metrics(client, catalog) -> None:
    b"".join(client.get("/products/").streaming_content)
    assert client.get("/orders/").status_code == 401
    metrics = client.get("/metrics").content.decode()
    assert 'gateway_proxied_requests_total{method="GET",status="200",upstream="catalog"}' in metrics
    assert 'gateway_proxied_requests_total{method="GET",status="401",upstream="orders"}' in metrics
    assert 'gateway_proxied_request_duration_seconds_count{upstream="catalog"}' in metrics


def test_what_the_proxy_logs_carries_the_request_id(client, settings) -> None:
    settings.CATALOG_URL = "http://127.0.0.1:1"
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    handler.addFilter(CorrelationId(correlation_id_field="request_id"))
    logger = logging.getLogger("gateway.edge.proxy")
    logger.addHandler(handler)
    request_id = str(uuid.uuid4())
    try:
        response = client.get("/products/", HTTP_X_REQUEST_ID=request_id)
    finally:
        logger.removeHandler(handler)
    assert response.status_code == 503
    assert response["X-Request-ID"] == request_id
    assert [record.request_id for record in records] == [request_id]


def test_body_over_the_limit_is_refused_with_413(client, settings, orders, token_pair) -> None:
    settings.PROXY_BODY_MAX_BYTES = 1024
    response = client.post(
        "/orders/",
        data=b"x" * 2048,
        content_type="application/octet-stream",
        HTTP_AUTHORIZATION=f"Bearer {token_pair().access}",
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert orders.received == []


def test_chunked_body_is_read_whole_and_sent_with_its_length(client, orders, token_pair) -> None:
    response = client.post(
        "/orders/",
        data=b'{"items": [{"product_id": 1, "quantity": 2}]}',
        content_type="application/json",
        HTTP_TRANSFER_ENCODING="chunked",
        HTTP_AUTHORIZATION=f"Bearer {token_pair().access}",
    )
    assert response.status_code == 200
    seen = orders.received[0]
    assert seen.body == b'{"items": [{"product_id": 1, "quantity": 2}]}'
    assert seen.headers["content-length"] == str(len(seen.body))
    assert "transfer-encoding" not in seen.headers


def test_chunked_body_over_the_limit_is_refused_with_413(
    client, settings, orders, token_pair
) -> None:
    settings.PROXY_BODY_MAX_BYTES = 1024
    response = client.post(
        "/orders/",
        data=b"x" * 2048,
        content_type="application/octet-stream",
        HTTP_TRANSFER_ENCODING="chunked",
        HTTP_AUTHORIZATION=f"Bearer {token_pair().access}",
    )
    assert response.status_code == 413
    assert response.json()["error"]["details"]["max_bytes"] == 1024
    assert orders.received == []


def test_service_down_is_a_json_503(client, settings) -> None:
    settings.CATALOG_URL = "http://127.0.0.1:1"
    response = client.get("/products/")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "upstream_unavailable"


def test_slow_service_is_a_json_504_after_the_read_timeout(client, settings, catalog) -> None:
    settings.UPSTREAM_READ_TIMEOUT_SECONDS = 0.2
    catalog.reply = Reply(delay=1.0)
    started = time.monotonic()
    response = client.get("/products/")
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "upstream_timeout"
    assert time.monotonic() - started < 1.0


def test_garbled_answer_is_a_json_502(client, catalog) -> None:
    catalog.reply = Reply(raw=b"THIS IS NOT HTTP\r\n\r\n")
    response = client.get("/products/")
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "bad_gateway"


def test_clients_over_the_rate_limit_get_429_with_retry_after(client, settings, catalog) -> None:
    settings.RATE_LIMIT = "3/h"  # an hour: the calls below never straddle two windows
    statuses = [client.get("/products/").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    refused = client.get("/products/")
    assert 1 <= int(refused["Retry-After"]) <= 3600
    assert refused.json()["error"]["code"] == "rate_limited"
    assert len(catalog.received) == 3
    # Probes are never limited; another client (by its token's subject) has its own budget.
    assert client.get("/healthz").status_code == 200
    # The gateway's own paths draw on the same budget.
    assert client.get("/.well-known/jwks.json").status_code == 429
    access = signed_by_gateway()
    assert client.get("/products/", HTTP_AUTHORIZATION=f"Bearer {access}").status_code == 200


def test_schema_and_docs_show_every_service_behind_the_gateway(client, catalog, orders) -> None:
    catalog.reply = Reply(
        body=json.dumps(
            {
                "openapi": "3.0.3",
                "paths": {"/products/": {"get": {"operationId": "products_list"}}, "/healthz": {}},
                "components": {"schemas": {"Product": {"type": "object"}}},
            }
        ).encode()
    )
    orders.reply = Reply(
        body=json.dumps(
            {"openapi": "3.0.3", "paths": {"/orders/": {"post": {"operationId": "orders_create"}}}}
        ).encode()
    )
    schema = client.get("/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    assert schema["paths"]["/products/"]["get"]["operationId"] == "products_list"
    assert schema["paths"]["/orders/"]["post"]["operationId"] == "orders_create"
    for status in ("413", "429", "502", "503", "504"):
        answer = schema["paths"]["/orders/"]["post"]["responses"][status]
        assert answer["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Error"
        }
    assert "error" in schema["components"]["schemas"]["Error"]["properties"]
    assert "/auth/token/refresh/" in schema["paths"]
    assert "/.well-known/jwks.json" in schema["paths"]
    assert "get" in schema["paths"]["/healthz"], "the gateway's own probe, not the catalog's"
    assert schema["components"]["schemas"]["Product"] == {"type": "object"}
    assert catalog.received[0].path == "/schema/"
    assert client.get("/docs/").status_code == 200


def test_schema_names_a_service_that_cannot_be_reached(client, settings, catalog) -> None:
    catalog.reply = Reply(body=b'{"openapi": "3.0.3", "paths": {}}')
    settings.ORDERS_URL = "http://127.0.0.1:1"
    response = client.get("/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    assert "not shown: orders" in response.json()["info"]["description"]


def test_forwarding_headers_from_an_untrusted_client_are_replaced_not_passed_on(
    client, catalog, settings
) -> None:
    settings.TRUSTED_PROXY_NETWORKS = ["10.0.0.0/8"]
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "evil.example"]
    response = client.get(
        "/products/",
        REMOTE_ADDR="127.0.0.50",
        HTTP_X_FORWARDED_FOR="203.0.113.9",
        HTTP_X_FORWARDED_HOST="evil.example",
        HTTP_X_FORWARDED_PROTO="https",
        HTTP_X_FORWARDED_PORT="443",
        HTTP_FORWARDED="for=203.0.113.9;host=evil.example;proto=https",
    )
    assert response.status_code == 200
    seen = catalog.received[0].headers
    assert seen["x-forwarded-for"] == "127.0.0.50"
    assert seen["x-forwarded-host"] == "testserver"
    assert seen["x-forwarded-proto"] == "http"
    assert seen["forwarded"] == "for=127.0.0.50;host=testserver;proto=http"
    assert "x-forwarded-port" not in seen


def test_a_trusted_ingress_s_public_origin_is_passed_on(client, catalog, settings) -> None:
    settings.TRUSTED_PROXY_NETWORKS = ["127.0.0.3/32"]  # the Ingress
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "shop.example.com"]
    response = client.get(
        "/products/",
        REMOTE_ADDR="127.0.0.3",
        HTTP_X_FORWARDED_FOR="2001:db8::9",
        HTTP_X_FORWARDED_HOST="shop.example.com",
        HTTP_X_FORWARDED_PROTO="https",
    )
    assert response.status_code == 200
    seen = catalog.received[0].headers
    assert seen["x-forwarded-for"] == "2001:db8::9, 127.0.0.3"
    assert seen["x-forwarded-host"] == "shop.example.com"
    assert seen["x-forwarded-proto"] == "https"
    assert seen["forwarded"] == (
        'for="[2001:db8::9]", for=127.0.0.3;host=shop.example.com;proto=https'
    )


def test_an_answer_cut_short_before_it_is_passed_on_is_a_json_502(client, catalog) -> None:
    catalog.reply = Reply(
        raw=b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
    )
    response = client.get("/products/")
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "bad_gateway"
