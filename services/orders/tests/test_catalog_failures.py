"""POST /orders/ when the catalog is down, slow or answers nonsense: a JSON 503/502, no order."""

import threading
from decimal import Decimal

import pytest
from orders.clients.catalog import CatalogClient, CatalogUnavailable, catalog_client
from orders.models import Order

from ecomms_common.outbox.models import OutboxMessage
from tests.conftest import BREAD_AND_ORANGES

pytestmark = pytest.mark.django_db


def place(api_client, headers):
    return api_client.post("/orders/", BREAD_AND_ORANGES, format="json", **headers)


def assert_no_order() -> None:
    assert not Order.objects.exists()
    assert not OutboxMessage.objects.exists()


def test_catalog_down_is_a_503_and_no_order(api_client, catalog, customer, settings, closed_port):
    settings.CATALOG_URL = f"http://127.0.0.1:{closed_port}"

    response = place(api_client, customer())

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "catalog_unavailable"
    assert_no_order()


def test_slow_catalog_is_a_503_after_bounded_retries(api_client, catalog, customer) -> None:
    catalog.delay_seconds = 1.0  # longer than the 0.5 s read timeout

    response = place(api_client, customer())

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "catalog_unavailable"
    assert len(catalog.requests) == 3  # the first try and CATALOG_RETRIES = 2 retries
    assert_no_order()


def test_the_deadline_bounds_the_whole_lookup_retries_included(
    api_client, catalog, customer, settings
) -> None:
    settings.CATALOG_DEADLINE_SECONDS = 0.3  # less than one read timeout (0.5 s)
    catalog.delay_seconds = 1.0

    response = place(api_client, customer())

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "catalog_unavailable"
    assert len(catalog.requests) == 1  # no time was left for the two retries
    assert_no_order()


def test_lookups_of_concurrent_requests_reach_the_catalog_side_by_side(catalog, settings) -> None:
    # Each lookup is held at the catalog until the other one arrives too: lookups made one at
    # a time (behind a lock around the slow call) would both fail.
    settings.CATALOG_READ_TIMEOUT_SECONDS = 10
    settings.CATALOG_RETRIES = 0
    both_arrived = threading.Barrier(2, timeout=3)
    catalog.on_request = both_arrived.wait
    client = catalog_client()
    outcomes: list = []

    def look_up() -> None:
        try:
            outcomes.append(client.products_lookup(product_ids=[10]).products[10].price)
        except CatalogUnavailable as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=look_up) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=15)

    assert outcomes == [Decimal("3.99")] * 2


def test_catalog_failing_every_time_is_a_503(api_client, catalog, customer) -> None:
    catalog.fail_next = 100

    response = place(api_client, customer())

    assert response.status_code == 503
    assert len(catalog.requests) == 3
    assert_no_order()


def test_a_passing_catalog_failure_is_retried(api_client, catalog, customer) -> None:
    catalog.fail_next = 2

    response = place(api_client, customer())

    assert response.status_code == 201
    assert response.json()["total_amount"] == "10.97"
    assert len(catalog.requests) == 3


@pytest.mark.parametrize(
    "answer",
    [
        {
            "products": [
                {"id": 10, "name": "Bread", "price": "-3.99", "currency": "USD"},
                {"id": 15, "name": "Oranges", "price": "2.99", "currency": "USD"},
            ],
            "missing": [],
        },
        {
            "products": [
                {"id": 10, "name": "Bread", "price": "abc", "currency": "USD"},
                {"id": 15, "name": "Oranges", "price": "2.99", "currency": "USD"},
            ],
            "missing": [],
        },
        {
            "products": [
                {"id": 10, "name": "Bread", "price": 3.99, "currency": "USD"},
                {"id": 15, "name": "Oranges", "price": "2.99", "currency": "USD"},
            ],
            "missing": [],
        },
        {
            "products": [
                {"id": 10, "name": "Bread", "price": "NaN", "currency": "USD"},
                {"id": 15, "name": "Oranges", "price": "2.99", "currency": "USD"},
            ],
            "missing": [],
        },
        {
            "products": [
                {"id": 10, "name": "Bread", "price": "3.999", "currency": "USD"},
                {"id": 15, "name": "Oranges", "price": "2.99", "currency": "USD"},
            ],
            "missing": [],
        },
        {
            "products": [
                {"id": 10, "name": "Bread", "price": "3.99", "currency": "usd"},
                {"id": 15, "name": "Oranges", "price": "2.99", "currency": "USD"},
            ],
            "missing": [],
        },
        {
            "products": [
                {"id": 10, "name": "Bread", "price": "3.99", "currency": None},
                {"id": 15, "name": "Oranges", "price": "2.99", "currency": "USD"},
            ],
            "missing": [],
        },
        {
            "products": [
                {"id": 10, "name": "", "price": "3.99", "currency": "USD"},
                {"id": 15, "name": "Oranges", "price": "2.99", "currency": "USD"},
            ],
            "missing": [],
        },
        {
            "products": [
                {"id": "10", "name": "Bread", "price": "3.99", "currency": "USD"},
                {"id": 15, "name": "Oranges", "price": "2.99", "currency": "USD"},
            ],
            "missing": [],
        },
        {
            "products": [{"id": 10, "name": "Bread", "price": "3.99", "currency": "USD"}],
            "missing": [],
        },
        {
            "products": [{"id": 10, "name": "Bread", "price": "3.99", "currency": "USD"}],
            "missing": [15, "x"],
        },
        {
            "products": [
                {"id": 10, "name": "Bread", "price": "3.99", "currency": "USD"},
                {"id": 15, "name": "Oranges", "price": "2.99", "currency": "USD"},
                {"id": 16, "name": "Extra", "price": "2.99", "currency": "USD"},
            ],
            "missing": [],
        },
        {"products": "none", "missing": []},
        ["not", "an", "object"],
        {"products": ["bread"], "missing": []},
    ],
)
def test_nonsense_from_the_catalog_is_a_502(api_client, catalog, customer, answer) -> None:
    catalog.body = answer

    response = place(api_client, customer())

    assert response.status_code == 502
    assert response.json()["error"]["code"] == "catalog_bad_response"
    assert_no_order()


def test_a_catalog_answer_that_is_not_json_is_a_502(api_client, catalog, customer) -> None:
    catalog.raw_body = b"<html>Bad gateway</html>"

    response = place(api_client, customer())

    assert response.status_code == 502
    assert_no_order()


def test_a_catalog_without_the_lookup_is_a_502(api_client, catalog, customer, settings) -> None:
    settings.CATALOG_URL = settings.CATALOG_URL + "/elsewhere"

    response = place(api_client, customer())

    assert response.status_code == 502
    assert "404" in response.json()["error"]["message"]
    assert_no_order()


def test_the_breaker_opens_and_fails_fast(api_client, catalog, customer, settings) -> None:
    settings.CATALOG_BREAKER_FAIL_MAX = 2
    catalog.fail_next = 1000

    statuses = [place(api_client, customer()).status_code for _ in range(2)]
    calls_when_open = len(catalog.requests)
    third = place(api_client, customer())

    assert statuses == [503, 503]
    assert third.status_code == 503
    assert third.json()["error"]["code"] == "catalog_unavailable"
    assert len(catalog.requests) == calls_when_open  # the catalog was not called at all
    assert_no_order()


def test_the_breaker_passes_a_bad_answer_on_as_502_when_it_trips(
    api_client, catalog, customer, settings
) -> None:
    settings.CATALOG_BREAKER_FAIL_MAX = 1
    catalog.body = {"products": "none", "missing": []}

    response = place(api_client, customer())

    assert response.status_code == 502


def test_the_breaker_closes_again_after_its_reset_time(
    api_client, catalog, customer, settings
) -> None:
    settings.CATALOG_BREAKER_FAIL_MAX = 1
    settings.CATALOG_BREAKER_RESET_SECONDS = 0
    catalog.fail_next = 3

    assert place(api_client, customer()).status_code == 503
    response = place(api_client, customer())

    assert response.status_code == 201


def test_the_client_refuses_more_ids_than_one_lookup_takes(catalog, settings) -> None:
    client = CatalogClient(
        base_url=settings.CATALOG_URL,
        connect_timeout=0.5,
        read_timeout=0.5,
        retries=0,
        backoff_factor=0,
        backoff_jitter=0,
        deadline_seconds=5,
        breaker_fail_max=5,
        breaker_reset_seconds=30,
    )

    with pytest.raises(ValueError, match="between 1 and 200"):
        client.products_lookup(product_ids=range(1, 202))
    lookup = client.products_lookup(product_ids=[10, 10, 99])
    assert lookup.products[10].price == Decimal("3.99")
    assert lookup.missing == frozenset({99})
