import random
from decimal import Decimal
from urllib.parse import urlencode

import pytest
from catalog.integrity import catalog_check
from catalog.models import Product
from django.db import connection

from tests.conftest import naive_average, other_session, product

pytestmark = pytest.mark.django_db

CITRUS = ["All Products", "Produce", "Fruits", "Citrus"]
BERRIES = ["All Products", "Produce", "Fruits", "Berries"]
BREAD = ["All Products", "Bakery", "Bread"]


def _average(wsgi, slug, **params):
    """GET a category's average price through the served WSGI application (the fast path)."""
    response = wsgi(f"/categories/{slug}/average_price/", urlencode(params))
    assert response.status == 200, response.body
    return response.json()


def test_the_spec_response_shape(upload, wsgi):
    upload(product(price="2.00", paths=[CITRUS]), product(price="3.15", paths=[BERRIES]))
    assert _average(wsgi, "fruits") == {
        "category": "fruits",
        "average_price": 2.58,
        "currency": "USD",
        "product_count": 2,
        "include_descendants": True,
    }


def test_a_product_in_two_categories_of_the_subtree_counts_once(upload, wsgi):
    upload(product(price="10.00", paths=[CITRUS, BERRIES]), product(price="2.00", paths=[BREAD]))
    fruits = _average(wsgi, "fruits")
    assert (fruits["product_count"], fruits["average_price"]) == (1, 10.0)
    root = _average(wsgi, "all-products")
    assert (root["product_count"], root["average_price"]) == (2, 6.0)


def test_only_the_requested_currency_counts(upload, wsgi, settings):
    upload(
        product(price="1.00", paths=[CITRUS]),
        product(price="100.00", currency="KES", paths=[CITRUS]),
        product(price="300.00", currency="KES", paths=[BERRIES]),
    )
    assert _average(wsgi, "fruits")["average_price"] == 1.0
    kes = _average(wsgi, "fruits", currency="KES")
    assert (kes["currency"], kes["product_count"], kes["average_price"]) == ("KES", 2, 200.0)
    settings.CATALOG_DEFAULT_CURRENCY = "KES"
    assert _average(wsgi, "fruits")["currency"] == "KES"


def test_averages_round_half_up_to_cents(upload, wsgi):
    upload(*(product(price=price, paths=[CITRUS]) for price in ("0.01", "0.01", "0.02", "0.02")))
    # 0.06 / 4 = 0.015 exactly: half-up gives 0.02 (banker's rounding would give 0.02 too,
    # so add a case where they differ: 0.025 -> 0.03)
    assert _average(wsgi, "citrus")["average_price"] == 0.02
    upload(product(price="0.04", paths=[BERRIES]), product(price="0.01", paths=[BERRIES]))
    assert _average(wsgi, "berries")["average_price"] == 0.03


@pytest.mark.parametrize(
    ("prices", "average", "text"),
    [
        (("1499.00", "1099.99"), 1299.5, "1299.5"),  # 1299.495
        (("10.00", "10.00", "10.01", "10.01"), 10.01, "10.01"),  # 10.005: half-even gives 10.00
        (("0.01", "0.02", "0.02"), 0.02, "0.02"),  # 0.01666...
        (("0.01", "0.01", "0.02"), 0.01, "0.01"),  # 0.01333...
        (("99999999.99", "99999999.98"), 99999999.99, "99999999.99"),  # 99999999.985
        (("0.10", "0.20", "0.20", "0.05"), 0.14, "0.14"),  # 0.1375
    ],
)
def test_averages_are_exact_to_the_cent_rounded_half_up_whichever_answers(
    upload, wsgi, api_client, prices, average, text
):
    # a mean of three prices never ends in half a cent (it ends in thirds): four prices do
    upload(*(product(price=price, paths=[CITRUS]) for price in prices))
    path = "/categories/citrus/average_price/"
    fast = wsgi(path)
    django = api_client.get(path)

    assert fast.json()["average_price"] == django.json()["average_price"] == average
    assert f'"average_price": {text},'.encode() in fast.body
    assert f'"average_price": {text},'.encode() in django.content
    assert fast.json()["product_count"] == len(prices)


def test_an_empty_subtree_has_no_average(upload, wsgi):
    upload(product(paths=[BREAD]))
    upload(product(paths=[CITRUS], currency="KES"))
    empty = _average(wsgi, "fruits")
    assert (empty["product_count"], empty["average_price"]) == (0, None)


def test_include_descendants_false_counts_the_category_alone(upload, wsgi):
    upload(
        product(price="4.00", paths=[["All Products", "Produce", "Fruits"]]),
        product(price="8.00", paths=[CITRUS]),
    )
    alone = _average(wsgi, "fruits", include_descendants="false")
    assert (alone["product_count"], alone["average_price"], alone["include_descendants"]) == (
        1,
        4.0,
        False,
    )
    assert _average(wsgi, "fruits")["product_count"] == 2


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"currency": "usd"}, "currency"),
        ({"currency": "ABC"}, "currency"),
        ({"include_descendants": "maybe"}, "include_descendants"),
    ],
)
def test_bad_parameters_are_a_400_naming_them(upload, wsgi, params, field):
    upload(product(paths=[CITRUS]))
    response = wsgi("/categories/fruits/average_price/", urlencode(params))
    assert response.status == 400
    assert list(response.json()["error"]["details"]) == [field]


def test_aggregates_follow_price_changes_recategorisation_moves_and_deletes(
    upload, wsgi, admin_auth, api_client
):
    upload(
        product(sku="A", price="1.00", paths=[CITRUS]),
        product(sku="B", price="2.00", paths=[CITRUS, BERRIES]),
        product(sku="C", price="4.00", paths=[BREAD]),
    )
    upload(product(sku="A", price="5.00", paths=[CITRUS]))  # price change
    upload(product(sku="C", price="4.00", paths=[BERRIES, BREAD]))  # re-categorised
    assert (
        api_client.patch(
            "/categories/berries/", {"parent": "bakery"}, format="json", **admin_auth
        ).status_code
        == 200
    )  # tree move
    product_b = Product.objects.get(sku="B")
    assert api_client.delete(f"/products/{product_b.pk}/", **admin_auth).status_code == 204
    for slug in ("all-products", "produce", "fruits", "citrus", "berries", "bakery", "bread"):
        for include in (True, False):
            count, average = naive_average(slug, include_descendants=include)
            got = _average(wsgi, slug, include_descendants=str(include).lower())
            assert got["product_count"] == count, slug
            assert got["average_price"] == (float(average) if average is not None else None), slug
    assert catalog_check().ok


def test_random_writes_keep_every_aggregate_equal_to_a_recomputation(
    upload, api_client, admin_auth
):
    rng = random.Random(20261125)
    names = ["A", "B", "C"]
    paths = [
        ["Root", rng.choice(names), rng.choice(names), rng.choice(names)][: rng.randint(1, 4)]
        for _ in range(12)
    ]
    for round_number in range(6):
        items = [
            product(
                sku=f"S{rng.randint(0, 30)}-{round_number % 2}",
                price=f"{rng.randint(1, 99)}.{rng.randint(0, 99):02d}",
                currency=rng.choice(["USD", "USD", "EUR"]),
                paths=rng.sample(paths, rng.randint(1, 3)),
            )
            for _ in range(15)
        ]
        unique = {item["sku"]: item for item in items}
        upload(*unique.values())
        victims = list(Product.objects.order_by("?").values_list("pk", flat=True)[:2])
        for pk in victims:
            api_client.delete(f"/products/{pk}/", **admin_auth)
    report = catalog_check()
    assert report.ok, report.aggregate_problems[:5]
    assert Decimal(0) < Product.objects.count()


@pytest.mark.django_db(transaction=True)
def test_a_connection_dropped_by_the_server_is_replaced_without_an_error(upload, wsgi):
    upload(product(price="2.00", paths=[CITRUS]))
    assert _average(wsgi, "fruits")["product_count"] == 1  # the connection is now kept
    backend = connection.connection.info.backend_pid
    with other_session() as server:
        server.execute("SELECT pg_terminate_backend(%s)", [backend])
    assert _average(wsgi, "fruits")["product_count"] == 1
    assert connection.connection.info.backend_pid != backend


def test_unknown_slug_and_other_methods_answer_in_the_common_json_shape(wsgi):
    missing = wsgi("/categories/nope/average_price/")
    assert (missing.status, missing.json()["error"]["code"]) == (404, "not_found")
    posted = wsgi("/categories/nope/average_price/", method="POST")
    assert (posted.status, posted.json()["error"]["code"]) == (405, "method_not_allowed")
    assert posted.headers["Allow"] == "GET, HEAD"


def test_the_schema_describes_average_price(api_client):
    schema = api_client.get("/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    operation = schema["paths"]["/categories/{slug}/average_price/"]["get"]
    assert {p["name"] for p in operation["parameters"]} == {
        "slug",
        "currency",
        "include_descendants",
    }
    answer = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert (
        set(answer["properties"])
        == set(answer["required"])
        == {
            "category",
            "average_price",
            "currency",
            "product_count",
            "include_descendants",
        }
    )
    assert operation["responses"]["404"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }
    assert "Error" in schema["components"]["schemas"]
