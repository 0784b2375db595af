import pytest
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


def test_the_product_list_pages_with_a_cursor(upload, api_client):
    upload(*(product(name=f"P{i}", sku=f"P{i}") for i in range(5)))
    first = api_client.get("/products/", {"page_size": 2}).json()
    assert [item["name"] for item in first["results"]] == ["P0", "P1"]
    second = api_client.get(first["next"]).json()
    assert [item["name"] for item in second["results"]] == ["P2", "P3"]


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
    assert [item["name"] for item in second["results"]] == ["P2", "P3"]
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
