"""Reading orders (own only, admins all) and the PENDING -> PAID | CANCELLED status machine."""

import pytest

from ecomms_common.outbox.models import OutboxMessage
from tests.conftest import BREAD_AND_ORANGES

pytestmark = pytest.mark.django_db


@pytest.fixture
def place(api_client, catalog):
    def place_for(headers, body=BREAD_AND_ORANGES) -> int:
        response = api_client.post("/orders/", body, format="json", **headers)
        assert response.status_code == 201
        return response.json()["id"]

    return place_for


def test_customers_list_their_own_orders_newest_first(api_client, place, customer) -> None:
    first, second = place(customer("alice")), place(customer("alice"))
    place(customer("bob"))

    response = api_client.get("/orders/", **customer("alice"))

    assert response.status_code == 200
    assert set(response.json()) == {"next", "previous", "results"}
    assert [order["id"] for order in response.json()["results"]] == [second, first]


def test_the_list_is_paginated(api_client, place, customer) -> None:
    ids = [place(customer()) for _ in range(3)]

    page_one = api_client.get("/orders/?page_size=2", **customer()).json()
    page_two = api_client.get(page_one["next"], **customer()).json()

    assert page_one["previous"] is None
    assert [o["id"] for o in page_one["results"]] == [ids[2], ids[1]]
    assert [o["id"] for o in page_two["results"]] == [ids[0]]
    assert page_two["next"] is None


@pytest.mark.parametrize(
    ("peer", "origin"),
    [
        ("127.0.0.1", "https://localhost:8000"),  # the gateway, a trusted proxy
        ("203.0.113.7", "http://testserver"),  # anyone else: its forwarding headers are dropped
    ],
)
def test_page_links_are_on_the_origin_a_trusted_proxy_names(
    api_client, place, customer, peer, origin
) -> None:
    for _ in range(3):
        place(customer())
    forwarding = {
        "REMOTE_ADDR": peer,
        "HTTP_X_FORWARDED_HOST": "localhost:8000",
        "HTTP_X_FORWARDED_PROTO": "https",
    }

    page_one = api_client.get("/orders/?page_size=2", **forwarding, **customer()).json()
    page_two = api_client.get(page_one["next"], **forwarding, **customer()).json()

    assert page_one["next"].startswith(f"{origin}/orders/?cursor=")
    assert page_two["previous"].startswith(f"{origin}/orders/?cursor=")


def test_a_customer_without_orders_gets_an_empty_list(api_client, customer) -> None:
    response = api_client.get("/orders/", **customer("newcomer"))

    assert response.status_code == 200
    assert response.json()["results"] == []


def test_customers_see_their_order(api_client, place, customer) -> None:
    order_id = place(customer("alice"))

    response = api_client.get(f"/orders/{order_id}/", **customer("alice"))

    assert response.status_code == 200
    assert response.json()["id"] == order_id
    assert response.json()["total_amount"] == "10.97"


def test_another_customers_order_is_a_404(api_client, place, customer) -> None:
    order_id = place(customer("alice"))

    response = api_client.get(f"/orders/{order_id}/", **customer("bob"))

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_an_order_that_does_not_exist_is_a_404(api_client, customer) -> None:
    assert api_client.get("/orders/424242/", **customer()).status_code == 404


def test_admins_see_every_order_and_filter_them(api_client, place, customer, admin) -> None:
    alice_order, bob_order = place(customer("alice")), place(customer("bob"))
    api_client.post(f"/orders/{bob_order}/cancel/", **customer("bob"))

    everything = api_client.get("/orders/", **admin).json()
    alices = api_client.get("/orders/?customer=sub-alice", **admin).json()
    cancelled = api_client.get("/orders/?status=CANCELLED", **admin).json()
    detail = api_client.get(f"/orders/{alice_order}/", **admin)

    assert {o["id"] for o in everything["results"]} == {alice_order, bob_order}
    assert [o["id"] for o in alices["results"]] == [alice_order]
    assert [o["id"] for o in cancelled["results"]] == [bob_order]
    assert detail.status_code == 200
    assert detail.json()["customer"] == "sub-alice"


def test_customers_cannot_filter_their_way_into_other_orders(api_client, place, customer) -> None:
    place(customer("alice"))

    response = api_client.get("/orders/?customer=sub-alice", **customer("bob"))

    assert response.json()["results"] == []


def test_a_customer_filter_padded_past_its_limit_is_a_400_not_trimmed(api_client, admin) -> None:
    padded = "sub-alice" + "\x0b" * 300  # whitespace DRF would otherwise strip into range
    response = api_client.get("/orders/", {"customer": padded}, **admin)

    assert response.status_code == 400
    assert "customer" in response.json()["error"]["details"]


def test_an_unknown_status_filter_is_a_400(api_client, admin) -> None:
    response = api_client.get("/orders/?status=SHIPPED", **admin)

    assert response.status_code == 400
    assert "status" in response.json()["error"]["details"]


def test_the_owner_cancels_a_pending_order(api_client, place, customer) -> None:
    order_id = place(customer())

    response = api_client.post(f"/orders/{order_id}/cancel/", **customer())

    assert response.status_code == 200
    assert response.json()["status"] == "CANCELLED"
    assert api_client.get(f"/orders/{order_id}/", **customer()).json()["status"] == "CANCELLED"
    event = OutboxMessage.objects.get(event_type="order.cancelled")
    assert event.routing_key == "order.cancelled.v1"
    assert event.envelope["data"]["order_id"] == order_id
    assert event.envelope["data"]["previous_status"] == "PENDING"
    assert event.envelope["data"]["changed_by"] == "customer"


def test_cancelling_twice_is_a_409_and_writes_no_second_event(api_client, place, customer) -> None:
    order_id = place(customer())
    api_client.post(f"/orders/{order_id}/cancel/", **customer())

    response = api_client.post(f"/orders/{order_id}/cancel/", **customer())

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "illegal_transition"
    assert error["details"] == {"status": "CANCELLED", "requested": "CANCELLED"}
    assert OutboxMessage.objects.filter(event_type="order.cancelled").count() == 1


def test_another_customer_cannot_cancel(api_client, place, customer) -> None:
    order_id = place(customer("alice"))

    response = api_client.post(f"/orders/{order_id}/cancel/", **customer("bob"))

    assert response.status_code == 404
    assert api_client.get(f"/orders/{order_id}/", **customer("alice")).json()["status"] == (
        "PENDING"
    )


def test_admins_mark_orders_paid_and_paid_orders_cannot_be_cancelled(
    api_client, place, customer, admin
) -> None:
    order_id = place(customer())

    paid = api_client.post(f"/orders/{order_id}/pay/", **admin)
    cancel = api_client.post(f"/orders/{order_id}/cancel/", **customer())
    pay_again = api_client.post(f"/orders/{order_id}/pay/", **admin)

    assert paid.status_code == 200
    assert paid.json()["status"] == "PAID"
    assert cancel.status_code == 409
    assert pay_again.status_code == 409
    event = OutboxMessage.objects.get(event_type="order.paid")
    assert event.envelope["data"]["changed_by"] == "admin"
    assert not OutboxMessage.objects.filter(event_type="order.cancelled").exists()


def test_admins_cancel_any_pending_order(api_client, place, customer, admin) -> None:
    order_id = place(customer())

    response = api_client.post(f"/orders/{order_id}/cancel/", **admin)

    assert response.status_code == 200
    assert response.json()["status"] == "CANCELLED"
    assert api_client.post(f"/orders/{order_id}/pay/", **admin).status_code == 409


def test_customers_cannot_mark_orders_paid(api_client, place, customer) -> None:
    order_id = place(customer())

    response = api_client.post(f"/orders/{order_id}/pay/", **customer())

    assert response.status_code == 403
    assert not OutboxMessage.objects.filter(event_type="order.paid").exists()


@pytest.mark.django_db(transaction=True)
def test_a_concurrent_cancel_and_payment_let_exactly_one_through(catalog, customer, admin) -> None:
    import threading

    from django.db import connection
    from rest_framework.test import APIClient

    headers = customer()
    order_id = (
        APIClient().post("/orders/", BREAD_AND_ORANGES, format="json", **headers).json()["id"]
    )
    start = threading.Barrier(2)
    answers: list[int] = []

    def change(path: str, caller: dict) -> None:
        try:
            start.wait(timeout=5)
            answers.append(APIClient().post(f"/orders/{order_id}/{path}/", **caller).status_code)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=change, args=("cancel", headers)),
        threading.Thread(target=change, args=("pay", admin)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert sorted(answers) == [200, 409]
    status_events = OutboxMessage.objects.exclude(event_type="order.placed")
    assert status_events.count() == 1
    final_status = APIClient().get(f"/orders/{order_id}/", **headers).json()["status"]
    assert status_events.get().envelope["data"]["status"] == final_status
