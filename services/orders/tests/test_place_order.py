"""POST /orders/: prices from the catalog, snapshots, totals, the outbox event, bad input."""

import uuid
from decimal import Decimal

import pytest
from orders.models import Order, OrderItem

from ecomms_common.outbox.models import OutboxMessage
from tests.conftest import BREAD_AND_ORANGES

pytestmark = pytest.mark.django_db


def place(api_client, headers, body=BREAD_AND_ORANGES, **extra):
    return api_client.post("/orders/", body, format="json", **headers, **extra)


def nothing_written() -> bool:
    return (
        not Order.objects.exists()
        and not OrderItem.objects.exists()
        and not (OutboxMessage.objects.exists())
    )


def test_places_an_order_at_catalog_prices(api_client, catalog, customer) -> None:
    request_id = str(uuid.uuid4())
    response = place(api_client, customer(), HTTP_X_REQUEST_ID=request_id)

    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "PENDING"
    assert body["total_amount"] == "10.97"
    assert body["currency"] == "USD"
    assert body["placed_at"]
    assert body["items"] == [
        {
            "product": 10,
            "name": "Whole Wheat Bread",
            "quantity": 2,
            "unit_price": "3.99",
            "currency": "USD",
        },
        {
            "product": 15,
            "name": "Oranges (1 kg)",
            "quantity": 1,
            "unit_price": "2.99",
            "currency": "USD",
        },
    ]
    order = Order.objects.get(pk=body["id"])
    assert order.total_amount == Decimal("10.97")
    assert order.customer.sub == "sub-wanjiru"
    # One bulk call for all items, carrying the request's correlation id.
    assert len(catalog.requests) == 1
    assert catalog.requests[0]["query"] == "ids=10,15"
    assert catalog.requests[0]["request_id"] == request_id
    # The event carries the same id, so the notification can be traced back to this request.
    assert OutboxMessage.objects.get().correlation_id == request_id


def test_the_order_and_its_event_are_stored_together(api_client, catalog, customer) -> None:
    response = place(api_client, customer())

    message = OutboxMessage.objects.get()
    assert message.event_type == "order.placed"
    assert message.routing_key == "order.placed.v1"
    assert message.published_at is None
    data = message.envelope["data"]
    assert data["order_id"] == response.json()["id"]
    assert data["total_amount"] == "10.97"
    assert data["customer"] == {
        "id": "sub-wanjiru",
        "email": "wanjiru@example.com",
        "full_name": "Wanjiru",
        "phone": None,
    }
    assert [item["name"] for item in data["items"]] == ["Whole Wheat Bread", "Oranges (1 kg)"]


def test_total_is_exact_in_decimals(api_client, catalog, customer) -> None:
    body = {"items": [{"product_id": 20, "quantity": 3}], "currency": "USD"}

    response = place(api_client, customer(), body)

    assert (
        response.json()["total_amount"] == "0.30"
    )  # 3 * 0.1 in binary floats is 0.30000000000000004
    assert Order.objects.get().total_amount == Decimal("0.30")


def test_items_keep_the_price_and_name_of_the_time_of_order(api_client, catalog, customer) -> None:
    order_id = place(api_client, customer()).json()["id"]
    catalog.add(10, "Bread (new recipe)", "5.00")

    response = api_client.get(f"/orders/{order_id}/", **customer())

    assert response.json()["items"][0]["unit_price"] == "3.99"
    assert response.json()["items"][0]["name"] == "Whole Wheat Bread"
    assert response.json()["total_amount"] == "10.97"


def test_client_supplied_prices_totals_and_status_are_a_400_naming_them(
    api_client, catalog, customer
) -> None:
    body = {
        "items": [{"product_id": 10, "quantity": 1, "unit_price": "0.01", "price": "0.01"}],
        "currency": "USD",
        "total_amount": "0.01",
        "status": "PAID",
        "id": 999,
    }

    response = place(api_client, customer(), body)

    assert response.status_code == 400
    details = response.json()["error"]["details"]
    assert details == {
        "items": {"0": {"unit_price": ["Unknown field."], "price": ["Unknown field."]}},
        "total_amount": ["Unknown field."],
        "status": ["Unknown field."],
        "id": ["Unknown field."],
    }
    assert not Order.objects.exists()


def test_unknown_fields_of_an_item_are_a_400_naming_them(api_client, catalog, customer) -> None:
    body = {"items": [{"product_id": 10, "quantity": 1, "unit_price": "0.01"}], "currency": "USD"}

    response = place(api_client, customer(), body)

    assert response.status_code == 400
    assert response.json()["error"]["details"] == {
        "items": {"0": {"unit_price": ["Unknown field."]}}
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"currency": "USD"}, "items"),
        ({"items": [], "currency": "USD"}, "items"),
        ({"items": "10", "currency": "USD"}, "items"),
        ({"items": [{"product_id": 10, "quantity": 0}], "currency": "USD"}, "items"),
        ({"items": [{"product_id": 10, "quantity": -1}], "currency": "USD"}, "items"),
        ({"items": [{"product_id": 10, "quantity": 1.5}], "currency": "USD"}, "items"),
        ({"items": [{"product_id": 10, "quantity": 2.0}], "currency": "USD"}, "items"),
        ({"items": [{"product_id": 10, "quantity": True}], "currency": "USD"}, "items"),
        ({"items": [{"product_id": 10, "quantity": "2"}], "currency": "USD"}, "items"),
        ({"items": [{"product_id": 10, "quantity": 10**30}], "currency": "USD"}, "items"),
        ({"items": [{"product_id": 10, "quantity": 1001}], "currency": "USD"}, "items"),
        ({"items": [{"product_id": 10}], "currency": "USD"}, "items"),
        ({"items": [{"product_id": "10", "quantity": 1}], "currency": "USD"}, "items"),
        ({"items": [{"product_id": 0, "quantity": 1}], "currency": "USD"}, "items"),
        ({"items": [{"product_id": 2**64, "quantity": 1}], "currency": "USD"}, "items"),
        ({"items": [{"quantity": 1}], "currency": "USD"}, "items"),
        ({"items": ["10"], "currency": "USD"}, "items"),
        (
            {
                "items": [{"product_id": 10, "quantity": 1}, {"product_id": 10, "quantity": 2}],
                "currency": "USD",
            },
            "items",
        ),
        ({"items": [{"product_id": 10, "quantity": 1}]}, "currency"),
        ({"items": [{"product_id": 10, "quantity": 1}], "currency": "usd"}, "currency"),
        ({"items": [{"product_id": 10, "quantity": 1}], "currency": "DOLLARS"}, "currency"),
        ({"items": [{"product_id": 10, "quantity": 1}], "currency": 840}, "currency"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(api_client, catalog, customer, body, field) -> None:
    response = place(api_client, customer(), body)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert field in error["details"]
    assert nothing_written()
    assert catalog.requests == []


def test_more_items_than_the_maximum_are_refused(api_client, catalog, customer, settings) -> None:
    settings.ORDER_MAX_ITEMS = 2
    body = {"items": [{"product_id": i, "quantity": 1} for i in (10, 15, 20)], "currency": "USD"}

    response = place(api_client, customer(), body)

    assert response.status_code == 400
    assert "At most 2 items" in response.json()["error"]["details"]["items"][0]
    assert nothing_written()


def test_a_huge_list_of_items_is_refused_by_its_length(api_client, catalog, customer) -> None:
    body = {"items": [{"product_id": 10, "quantity": "x"}] * 50_000, "currency": "USD"}

    response = place(api_client, customer(), body)

    assert response.status_code == 400
    assert response.json()["error"]["details"] == {"items": ["At most 100 items per order."]}


def test_a_body_that_is_not_an_object_is_refused(api_client, catalog, customer) -> None:
    response = place(api_client, customer(), [{"product_id": 10, "quantity": 1}])

    assert response.status_code == 400
    assert nothing_written()


def test_unknown_products_are_named_in_a_422(api_client, catalog, customer) -> None:
    body = {
        "items": [
            {"product_id": 10, "quantity": 1},
            {"product_id": 99, "quantity": 1},
            {"product_id": 98, "quantity": 1},
        ],
        "currency": "USD",
    }

    response = place(api_client, customer(), body)

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "unknown_products"
    assert error["details"] == {"product_ids": [98, 99]}
    assert "98, 99" in error["message"]
    assert nothing_written()


def test_a_product_in_another_currency_is_a_422(api_client, catalog, customer) -> None:
    body = {
        "items": [{"product_id": 10, "quantity": 1}, {"product_id": 30, "quantity": 1}],
        "currency": "USD",
    }

    response = place(api_client, customer(), body)

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "currency_mismatch"
    assert error["details"] == {"currency": "USD", "products": {"30": "KES"}}
    assert nothing_written()


def test_an_order_in_the_products_currency_is_placed(api_client, catalog, customer) -> None:
    body = {"items": [{"product_id": 30, "quantity": 2}], "currency": "KES"}

    response = place(api_client, customer(), body)

    assert response.status_code == 201
    assert response.json()["total_amount"] == "500.00"
    assert response.json()["currency"] == "KES"


def test_placing_needs_the_customer_role(api_client, catalog, admin) -> None:
    response = place(api_client, admin)

    assert response.status_code == 403
    assert nothing_written()


def test_placing_needs_a_token(api_client, catalog) -> None:
    response = place(api_client, {})

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_the_placed_order_reads_like_a_stored_one(catalog, customer) -> None:
    from orders.models import Customer
    from orders.services import OrderLine, order_place

    buyer = Customer.objects.create(sub="sub-direct", email="direct@example.com")

    order = order_place(
        customer=buyer,
        items=[OrderLine(product_id=10, quantity=2), OrderLine(product_id=15, quantity=1)],
        currency="USD",
    )

    assert order.items.count() == 2
    assert [item.product_id for item in order.items.all()] == [10, 15]
    stored = Order.objects.get(pk=order.pk)
    assert [(i.product_id, i.unit_price) for i in stored.items.all()] == [
        (i.product_id, i.unit_price) for i in order.items.all()
    ]
