"""Hostile input, one table: every case is a JSON 4xx (never a 5xx) and leaves no row behind."""

import base64
from urllib.parse import quote

import pytest
from orders.models import Customer, Order, OrderItem

from ecomms_common.outbox.models import OutboxMessage

pytestmark = pytest.mark.django_db

DEEP = "[" * 100_000 + "]" * 100_000


def _cursor(query: str) -> str:
    return quote(base64.b64encode(query.encode()).decode())


BREAD = {"items": [{"product_id": 10, "quantity": 1}], "currency": "USD"}

# (name, method, path, body (a str is sent as it is), expected status)
CASES = [
    ("nested JSON, order", "post", "/orders/", '{"items": ' + DEEP + "}", 400),
    ("nested JSON, customer", "patch", "/customers/me/", '{"full_name": ' + DEEP + "}", 400),
    ("NUL in the customer filter", "get", "/orders/?customer=a%00b", None, 400),
    ("NUL in the status filter", "get", "/orders/?status=PAID%00", None, 400),
    ("empty status filter", "get", "/orders/?status=", None, 400),
    ("cursor position not a number", "get", f"/orders/?cursor={_cursor('p=abc')}", None, 404),
    (
        "cursor position past bigint",
        "get",
        f"/orders/?cursor={_cursor('p=' + '9' * 30)}",
        None,
        404,
    ),
    ("cursor offset not a number", "get", f"/orders/?cursor={_cursor('o=x')}", None, 404),
    ("page size over the maximum", "get", "/orders/?page_size=101", None, 400),
    ("unknown field, order", "post", "/orders/", {**BREAD, "total_amount": "0.01"}, 400),
    (
        "unknown field, item",
        "post",
        "/orders/",
        {"items": [{"product_id": 10, "quantity": 1, "price": "0"}], "currency": "USD"},
        400,
    ),
    ("misspelt field, customer", "patch", "/customers/me/", {"phone_number": "+254712345678"}, 400),
    ("name not a string", "patch", "/customers/me/", {"full_name": 7}, 400),
    ("NUL in the name", "patch", "/customers/me/", {"full_name": "a\x00b"}, 400),
    (
        "product id past bigint",
        "post",
        "/orders/",
        {"items": [{"product_id": 2**63, "quantity": 1}], "currency": "USD"},
        400,
    ),
    (
        "quantity as a string",
        "post",
        "/orders/",
        {"items": [{"product_id": 10, "quantity": "1"}], "currency": "USD"},
        400,
    ),
    ("body is not JSON", "post", "/orders/", "items=1", 400),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_hostile_input_is_a_json_4xx_and_writes_nothing(
    api_client, catalog, customer, method, path, body, expected
):
    send = getattr(api_client, method)
    headers = customer()
    if isinstance(body, str):
        response = send(path, body, content_type="application/json", **headers)
    elif body is None:
        response = send(path, **headers)
    else:
        response = send(path, body, format="json", **headers)
    assert response.status_code == expected, response.content[:300]
    assert response["Content-Type"] == "application/json"
    assert "error" in response.json()
    assert not Order.objects.exists()
    assert not OutboxMessage.objects.exists()
    assert not Customer.objects.exists()


@pytest.mark.parametrize("idempotency_key", [None, "total-too-large"])
def test_an_order_whose_total_exceeds_the_column_is_a_422(
    api_client, catalog, customer, idempotency_key
):
    for product_id in range(100, 120):
        catalog.add(product_id, f"Gold bar {product_id}", "9999999999.99")
    body = {
        "items": [{"product_id": pid, "quantity": 1000} for pid in range(100, 120)],
        "currency": "USD",
    }
    headers = customer()
    if idempotency_key:
        headers["HTTP_IDEMPOTENCY_KEY"] = idempotency_key

    response = api_client.post("/orders/", body, format="json", **headers)

    assert response.status_code == 422, response.content[:300]
    assert response.json()["error"]["code"] == "order_total_too_large"
    assert not Order.objects.exists()
    assert not OrderItem.objects.exists()
    assert not OutboxMessage.objects.exists()
    # The refused order did not use up the key: a smaller order under it is placed.
    retry = api_client.post("/orders/", BREAD, format="json", **headers)
    assert retry.status_code == 201, retry.content[:300]
