import json

import pytest
from catalog.models import Category, CategoryPriceStat, Product

from tests.conftest import product

pytestmark = pytest.mark.django_db


def test_the_spec_payload_creates_the_path_and_links_the_leaf(upload):
    response = upload(product())
    body = response.json()
    assert len(body["created"]) == 1
    assert body["updated"] == []
    assert body["categories_created"] == 3
    item = Product.objects.get(pk=body["created"][0])
    assert str(item.price) == "3.99"
    assert [c.slug for c in item.categories.all()] == ["bread"]


def test_a_product_in_several_paths_links_each_leaf(upload):
    response = upload(product(paths=[["A", "B", "C"], ["A", "D"], ["a", "d"]]))
    item = Product.objects.get(pk=response.json()["created"][0])
    assert sorted(c.name for c in item.categories.all()) == ["C", "D"]


def test_existing_and_new_paths_in_one_upload_each_link_their_own_leaf(upload):
    upload(product(paths=[["Produce", "Fruits", "Citrus"]]))
    body = upload(
        product(name="Lemon", paths=[["produce", "FRUITS", "citrus"]]),
        product(name="Kale", paths=[["Produce", "Vegetables", "Greens"]]),
        product(name="Lime", paths=[["Produce", "Fruits", "Citrus"], ["Produce", "Fruits"]]),
    ).json()
    assert body["categories_created"] == 2
    linked = {
        item.name: sorted(c.slug for c in item.categories.all())
        for item in Product.objects.filter(pk__in=body["created"])
    }
    assert linked == {"Lemon": ["citrus"], "Kale": ["greens"], "Lime": ["citrus", "fruits"]}
    assert Category.objects.get(slug="greens").parent.parent.name == "Produce"
    assert Category.objects.filter(name__iexact="citrus").count() == 1


def test_an_existing_sku_is_updated_not_duplicated(upload):
    first = upload(product(sku="BRD-1", price="3.99")).json()
    second = upload(
        product(sku="BRD-1", price="4.25", name="Rye Bread", paths=[["All Products", "Rye"]]),
        product(sku="BRD-2"),
    ).json()
    assert second["updated"] == first["created"]
    assert len(second["created"]) == 1
    item = Product.objects.get(sku="BRD-1")
    assert (item.name, str(item.price)) == ("Rye Bread", "4.25")
    assert [c.name for c in item.categories.all()] == ["Rye"]
    assert Product.objects.count() == 2


def test_ten_thousand_products_in_one_request(upload):
    items = [
        product(
            name=f"Item {i}",
            price=f"{1 + i % 50}.{i % 100:02d}",
            sku=f"SKU-{i}",
            paths=[["All Products", f"Aisle {i % 20}", f"Shelf {i % 7}"]],
        )
        for i in range(10_000)
    ]
    body = upload(*items).json()
    assert len(body["created"]) == 10_000
    assert Product.objects.count() == 10_000
    assert Category.objects.count() == 1 + 20 + 20 * 7


BAD_ITEMS = [
    ({"price": "-1.00"}, "price"),
    ({"price": "0"}, "price"),
    ({"price": "0.00"}, "price"),
    ({"price": "NaN"}, "price"),
    ({"price": "Infinity"}, "price"),
    ({"price": "1.999"}, "price"),
    ({"price": "12345678901.00"}, "price"),
    ({"price": 3.99}, "price"),
    ({"price": None}, "price"),
    ({"price": "3.99\n"}, "price"),
    ({"currency": "usd"}, "currency"),
    ({"currency": "XYZ"}, "currency"),
    ({"currency": 840}, "currency"),
    ({"currency": "USD\n"}, "currency"),
    ({"name": ""}, "name"),
    ({"name": "   "}, "name"),
    ({"name": "x" * 256}, "name"),
    ({"name": "nul\u0000byte"}, "name"),
    ({"description": "nul\u0000byte"}, "description"),
    ({"categories": [[]]}, "categories"),
    ({"categories": "All Products"}, "categories"),
    ({"categories": ["All Products"]}, "categories"),
    ({"categories": [["All Products", ""]]}, "categories"),
    ({"categories": [["x"] * 11]}, "categories"),
    ({"sku": "has space"}, "sku"),
    ({"sku": "SKU-1\n"}, "sku"),
    ({"categories": [["All Products", ["nested"]]]}, "categories"),
    ({"categories": [["All Products", {"name": "x"}]]}, "categories"),
    ({"description": 5}, "description"),
    ({"description": 0}, "description"),
    ({"description": []}, "description"),
]


@pytest.mark.parametrize(("change", "field"), BAD_ITEMS)
def test_each_bad_item_is_a_400_naming_index_and_field_and_nothing_is_written(
    upload, change, field
):
    response = upload(product(name="Fine"), {**product(), **change}, expect=400)
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert list(error["details"]["products"]) == ["1"]
    assert field in error["details"]["products"]["1"]
    assert not Product.objects.exists()
    assert not Category.objects.exists()


def test_every_bad_item_is_listed(upload):
    response = upload(product(price="-1"), product(), product(name="", currency="eur"), expect=400)
    details = response.json()["error"]["details"]["products"]
    assert set(details) == {"0", "2"}
    assert set(details["2"]) == {"name", "currency"}


def test_a_bad_path_repeated_across_products_is_reported_for_each(upload):
    bad, good = ["All Products", " "], ["All Products", "Bakery"]
    response = upload(
        product(paths=[good]),
        product(paths=[bad]),
        product(paths=[good, bad]),
        product(paths=[bad]),
        expect=400,
    )
    details = response.json()["error"]["details"]["products"]
    assert set(details) == {"1", "2", "3"}
    assert details["2"]["categories"] == [details["1"]["categories"][0].replace("Path 0", "Path 1")]
    assert not Category.objects.exists()


def test_missing_required_fields_are_named(upload):
    response = upload({"categories": []}, expect=400)
    assert set(response.json()["error"]["details"]["products"]["0"]) == {"name", "price"}


def test_the_same_sku_twice_in_one_upload_is_refused(upload):
    response = upload(product(sku="A-1"), product(sku="A-2"), product(sku="A-1"), expect=400)
    assert response.json()["error"]["details"]["products"] == {
        "2": {"sku": ["Duplicates the sku of product 0."]}
    }
    assert not Product.objects.exists()


def test_unknown_fields_are_a_400_naming_each(upload):
    response = upload({**product(), "colour": "brown", "id": 5}, expect=400)
    assert response.json()["error"]["details"] == {
        "products": {"0": {"colour": ["Unknown field."], "id": ["Unknown field."]}}
    }
    assert not Product.objects.exists()


def test_an_unknown_top_level_field_is_a_400_naming_it(api_client, admin_auth):
    payload = {"products": [product()], "dry_run": True}
    response = api_client.post("/products/upload/", payload, format="json", **admin_auth)
    assert response.status_code == 400
    assert response.json()["error"]["details"] == {"dry_run": ["Unknown field."]}
    assert not Product.objects.exists()


def test_control_characters_in_names_become_spaces(upload, api_client):
    response = upload(product(name="Bread\x07\x1b[0m", paths=[["Bakery\x7f"]]))
    detail = api_client.get(f"/products/{response.json()['created'][0]}/").json()
    assert detail["name"] == "Bread  [0m"
    assert api_client.get("/categories/bakery/").json()["name"] == "Bakery"


def test_a_missing_currency_takes_the_catalog_default(upload, settings):
    item = product()
    del item["currency"]
    response = upload(item)
    assert (
        Product.objects.get(pk=response.json()["created"][0]).currency
        == settings.CATALOG_DEFAULT_CURRENCY
    )


def test_names_with_emoji_and_other_scripts_come_back_intact(upload, api_client):
    response = upload(product(name="Mkate wa ngano 🍞 хлеб 面包", paths=[["Vyakula", "Mikate 🥖"]]))
    detail = api_client.get(f"/products/{response.json()['created'][0]}/").json()
    assert detail["name"] == "Mkate wa ngano 🍞 хлеб 面包"
    assert api_client.get("/categories/mikate/").json()["name"] == "Mikate 🥖"


def test_backslashes_tabs_and_line_breaks_are_stored_as_sent(upload, api_client):
    name = "Tab\there \\N back\\slash"
    description = "line one\nline two\r\n\\. end\t"
    response = upload(product(name=name, description=description, sku="ESC-1"))
    detail = api_client.get(f"/products/{response.json()['created'][0]}/").json()
    assert (detail["name"], detail["description"]) == (name, description.strip())


@pytest.mark.parametrize(
    "payload",
    [{}, {"products": "x"}, {"products": []}, [product()], {"products": [1]}],
)
def test_malformed_payloads_are_a_400_naming_products(api_client, admin_auth, payload):
    response = api_client.post("/products/upload/", payload, format="json", **admin_auth)
    assert response.status_code == 400
    assert "products" in response.json()["error"]["details"]
    assert not Product.objects.exists()


def test_more_than_the_maximum_is_refused(upload, settings):
    settings.CATALOG_MAX_UPLOAD_PRODUCTS = 2
    response = upload(product(), product(), product(), expect=400)
    assert response.json()["error"]["details"] == {"products": ["At most 2 products per upload."]}


def test_a_non_json_body_is_refused(api_client, admin_auth):
    response = api_client.post(
        "/products/upload/", data=b"name,price", content_type="text/csv", **admin_auth
    )
    assert response.status_code == 415
    broken = api_client.post(
        "/products/upload/", data=b'{"products": [', content_type="application/json", **admin_auth
    )
    assert broken.status_code == 400
    nan = api_client.post(
        "/products/upload/",
        data=b'{"products": [{"name": "x", "price": NaN, "categories": []}]}',
        content_type="application/json",
        **admin_auth,
    )
    assert nan.status_code == 400
    for body in (b'{"products": [{"name": "\xff"}]}', b'{"products": Infinity}', b""):
        refused = api_client.post(
            "/products/upload/", data=body, content_type="application/json", **admin_auth
        )
        assert refused.status_code == 400, body
        assert refused.json()["error"]["code"] in ("parse_error", "invalid"), body
    assert not Product.objects.exists()


def test_an_oversized_body_is_a_413(api_client, admin_auth, settings):
    settings.REQUEST_BODY_MAX_BYTES = 1000
    body = json.dumps({"products": [product(description="x" * 2000)]})
    response = api_client.post(
        "/products/upload/", data=body, content_type="application/json", **admin_auth
    )
    assert response.status_code == 413
    assert not Product.objects.exists()


def test_only_admins_upload(api_client, customer_auth):
    payload = {"products": [product()]}
    assert api_client.post("/products/upload/", payload, format="json").status_code == 401
    assert (
        api_client.post("/products/upload/", payload, format="json", **customer_auth).status_code
        == 403
    )
    assert not CategoryPriceStat.objects.exists()
