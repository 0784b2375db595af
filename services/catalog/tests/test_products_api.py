import json

import pytest
from catalog.api.serializers import ProductOutput
from catalog.models import Product

from tests.conftest import product

pytestmark = pytest.mark.django_db


def test_products_can_be_listed_by_category_subtree_once_each(upload, api_client):
    upload(
        product(name="Orange", paths=[["All", "Fruits", "Citrus"], ["All", "Fruits", "Sale"]]),
        product(name="Bread", paths=[["All", "Bakery"]]),
    )
    fruits = api_client.get("/products/", {"category": "fruits"}).json()
    assert [item["name"] for item in fruits["results"]] == ["Orange"]
    assert sorted(fruits["results"][0]["categories"]) == ["citrus", "sale"]
    everything = api_client.get("/products/").json()
    assert len(everything["results"]) == 2


def _names(page: dict) -> list[str]:
    return [item["name"] for item in page["results"]]


def test_the_product_list_pages_newest_first_with_a_cursor(upload, api_client):
    upload(*(product(name=f"P{i}", sku=f"P{i}") for i in range(5)))
    first = api_client.get("/products/", {"page_size": 2}).json()
    assert (_names(first), first["previous"]) == (["P4", "P3"], None)
    second = api_client.get(first["next"]).json()
    assert _names(second) == ["P2", "P1"]
    third = api_client.get(second["next"]).json()
    assert (_names(third), third["next"]) == (["P0"], None)
    back = api_client.get(third["previous"]).json()
    assert _names(back) == ["P2", "P1"]
    assert _names(api_client.get(back["previous"]).json()) == ["P4", "P3"]
    assert api_client.get(back["previous"]).json()["previous"] is None


@pytest.mark.parametrize("category", [None, "all"])
def test_a_category_pages_by_price_both_ways_ties_by_id(upload, api_client, category):
    prices = ["5.00", "1.50", "5.00", "12.00", "0.99", "5.00"]
    upload(
        *(
            product(name=f"P{i}", sku=f"P{i}", price=price, paths=[["All", f"C{i % 2}"]])
            for i, price in enumerate(prices)
        )
    )
    query = {"page_size": 4, **({"category": category} if category else {})}
    cheapest = api_client.get("/products/", {**query, "sort": "price"}).json()
    rest = api_client.get(cheapest["next"]).json()
    assert _names(cheapest) + _names(rest) == ["P4", "P1", "P0", "P2", "P5", "P3"]
    dearest = api_client.get("/products/", {**query, "sort": "-price"}).json()
    rest = api_client.get(dearest["next"]).json()
    assert _names(dearest) + _names(rest) == ["P3", "P5", "P2", "P0", "P1", "P4"]
    assert _names(api_client.get(rest["previous"]).json()) == _names(dearest)


def test_a_product_in_no_category_is_listed_only_among_all_products(upload, api_client):
    upload(product(name="Loose", sku="LOOSE", paths=[]), product(name="Filed", sku="FILED"))
    assert _names(api_client.get("/products/").json()) == ["Filed", "Loose"]
    assert _names(api_client.get("/products/", {"category": "all-products"}).json()) == ["Filed"]


def test_pages_do_not_shift_while_products_are_added(upload, api_client):
    upload(*(product(name=f"P{i}", sku=f"P{i}", paths=[["All", "Tea"]]) for i in range(4)))
    first = api_client.get("/products/", {"category": "tea", "page_size": 2}).json()
    upload(*(product(name=f"N{i}", sku=f"N{i}", paths=[["All", "Tea"]]) for i in range(3)))
    assert _names(api_client.get(first["next"]).json()) == ["P1", "P0"]


@pytest.mark.parametrize(
    ("query", "field"), [({"sort": "name"}, "sort"), ({"page_size": "0"}, "page_size")]
)
def test_a_bad_sort_or_page_size_is_a_400_naming_it(api_client, query, field):
    response = api_client.get("/products/", query)
    assert response.status_code == 400
    assert field in response.json()["error"]["details"]


def test_a_cursor_not_made_here_or_for_another_sort_is_a_404(upload, api_client):
    upload(*(product(name=f"P{i}", sku=f"P{i}") for i in range(3)))
    following = api_client.get("/products/", {"page_size": 1}).json()["next"]
    cursor = following.split("cursor=")[1].split("&")[0]
    for query in [
        {"cursor": cursor, "sort": "price"},
        {"cursor": "bm90IGEgY3Vyc29y"},
        {"cursor": "%%%"},
    ]:
        response = api_client.get("/products/", query)
        assert response.status_code == 404, query
        assert response.json()["error"]["message"] == "Invalid cursor"


def test_list_and_detail_answer_as_the_model_serializer_would(upload, api_client):
    upload(
        product(
            name="Tea ☕",
            price="1234567.80",
            sku="TEA",
            paths=[["All", "Drinks", "Tea"], ["All", "Sale"]],
        )
    )
    instance = Product.objects.prefetch_related("categories").get()
    expected = ProductOutput(instance).data
    expected["categories"] = sorted(expected["categories"])
    detail = api_client.get(f"/products/{instance.pk}/").json()
    listed = api_client.get("/products/", {"category": "drinks"}).json()["results"][0]
    for answer in (detail, listed):
        answer["categories"] = sorted(answer["categories"])
        assert answer == json.loads(json.dumps(expected))


THROUGH_THE_GATEWAY = {
    "HTTP_X_FORWARDED_HOST": "localhost:8000",
    "HTTP_X_FORWARDED_PROTO": "https",
    "HTTP_X_FORWARDED_FOR": "203.0.113.7",
}


def test_pages_asked_through_a_trusted_proxy_link_to_its_public_origin(upload, api_client):
    upload(*(product(name=f"P{i}", sku=f"P{i}") for i in range(5)))
    first = api_client.get(
        "/products/", {"page_size": 2}, REMOTE_ADDR="127.0.0.1", **THROUGH_THE_GATEWAY
    ).json()
    assert first["next"].startswith("https://localhost:8000/products/?")
    second = api_client.get(first["next"], REMOTE_ADDR="::1", **THROUGH_THE_GATEWAY).json()
    assert [item["name"] for item in second["results"]] == ["P2", "P1"]
    assert second["previous"].startswith("https://localhost:8000/products/?")


def test_pages_asked_by_an_untrusted_peer_link_to_the_service_itself(upload, api_client):
    upload(*(product(name=f"P{i}", sku=f"P{i}") for i in range(5)))
    first = api_client.get(
        "/products/", {"page_size": 2}, REMOTE_ADDR="203.0.113.7", **THROUGH_THE_GATEWAY
    ).json()
    assert first["next"].startswith("http://testserver/products/?")


def test_an_unknown_category_filter_is_a_404_naming_it(api_client):
    response = api_client.get("/products/", {"category": "nope"})
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "No category has the slug 'nope'."


def test_a_product_reads_back_in_full(upload, api_client):
    pk = upload(product(sku="W-1")).json()["created"][0]
    body = api_client.get(f"/products/{pk}/").json()
    assert {key: body[key] for key in ("name", "price", "currency", "sku", "categories")} == {
        "name": "Whole Wheat Bread",
        "price": "3.99",
        "currency": "USD",
        "sku": "W-1",
        "categories": ["bread"],
    }
    assert api_client.get("/products/999999/").status_code == 404


def test_the_bulk_lookup_returns_prices_in_order_and_names_missing_ids(upload, api_client):
    created = upload(product(name="A", price="1.50"), product(name="B", price="2.00")).json()[
        "created"
    ]
    response = api_client.get("/products/lookup/", {"ids": f"{created[1]},999999,{created[0]}"})
    assert response.status_code == 200
    assert response.json() == {
        "products": [
            {"id": created[1], "name": "B", "price": "2.00", "currency": "USD"},
            {"id": created[0], "name": "A", "price": "1.50", "currency": "USD"},
        ],
        "missing": [999999],
    }


@pytest.mark.parametrize("ids", [None, "", "1,,2", "a,b", "-1", "0", "1.5", ",".join(["1"] * 201)])
def test_bad_lookup_ids_are_a_400(api_client, ids):
    params = {} if ids is None else {"ids": ids}
    response = api_client.get("/products/lookup/", params)
    assert response.status_code == 400
    assert list(response.json()["error"]["details"]) == ["ids"]


def test_only_admins_delete_products(upload, api_client, customer_auth, admin_auth):
    pk = upload(product()).json()["created"][0]
    assert api_client.delete(f"/products/{pk}/", **customer_auth).status_code == 403
    assert api_client.delete(f"/products/{pk}/", **admin_auth).status_code == 204
    assert not Product.objects.exists()
    assert api_client.delete(f"/products/{pk}/", **admin_auth).status_code == 404
