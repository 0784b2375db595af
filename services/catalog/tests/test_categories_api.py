import json

import pytest
from catalog.integrity import catalog_check
from catalog.models import Category

from tests.conftest import product

pytestmark = pytest.mark.django_db


def _create(api_client, auth, path):
    return api_client.post("/categories/", {"path": path}, format="json", **auth)


def test_a_path_is_created_once_and_returns_its_leaf(api_client, admin_auth):
    path = ["All Products", "Produce", "Fruits", "Citrus"]
    first = _create(api_client, admin_auth, path)
    assert first.status_code == 201
    assert first.json()["name"] == "Citrus"
    assert first.json()["path"] == path
    assert first.json()["parent"] == "fruits"
    assert first.json()["level"] == 3
    again = _create(api_client, admin_auth, path)
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert Category.objects.count() == 4


def test_sibling_names_match_case_insensitively(api_client, admin_auth):
    _create(api_client, admin_auth, ["All Products", "Produce"])
    response = _create(api_client, admin_auth, ["all products", "PRODUCE"])
    assert response.status_code == 200
    assert response.json()["name"] == "Produce"
    assert Category.objects.count() == 2


def test_the_same_leaf_name_under_different_parents_gets_readable_distinct_slugs(
    api_client, admin_auth
):
    produce = _create(api_client, admin_auth, ["All Products", "Produce", "Fruits"]).json()
    frozen = _create(api_client, admin_auth, ["All Products", "Frozen", "Fruits"]).json()
    other = _create(api_client, admin_auth, ["Other Store", "Frozen", "Fruits"]).json()
    assert produce["slug"] == "fruits"
    assert frozen["slug"] == "frozen-fruits"
    assert other["slug"] == "other-store-frozen-fruits"
    _create(api_client, admin_auth, ["Z-X-Y"])
    _create(api_client, admin_auth, ["X", "Y"])
    clash = _create(api_client, admin_auth, ["Z", "X", "Y"]).json()
    assert clash["slug"] == "z-x-y-2"


def test_non_latin_and_emoji_names_are_kept_intact(api_client, admin_auth):
    response = _create(api_client, admin_auth, ["Bidhaa Zote", "Matunda 🍊", "Апельсины"])
    assert response.status_code == 201
    assert response.json()["path"] == ["Bidhaa Zote", "Matunda 🍊", "Апельсины"]
    assert response.json()["slug"] == "апельсины"
    emoji_only = _create(api_client, admin_auth, ["Bidhaa Zote", "🍋"]).json()
    assert emoji_only["name"] == "🍋"
    assert emoji_only["slug"] == "category"


@pytest.mark.parametrize(
    "path",
    [[], "All Products", [""], ["All Products", "   "], ["ok", 7], [["nested"]], ["x"] * 11],
)
def test_bad_paths_are_a_400_naming_path_and_write_nothing(api_client, admin_auth, path):
    response = _create(api_client, admin_auth, path)
    assert response.status_code == 400
    assert list(response.json()["error"]["details"]) == ["path"]
    assert not Category.objects.exists()


def test_a_missing_path_is_a_400(api_client, admin_auth):
    response = api_client.post("/categories/", {"name": "x"}, format="json", **admin_auth)
    assert response.status_code == 400
    assert response.json()["error"]["details"] == {"path": ["This field is required."]}


def test_only_admins_create_categories(api_client, customer_auth):
    assert _create(api_client, {}, ["A"]).status_code == 401
    assert _create(api_client, customer_auth, ["A"]).status_code == 403
    assert not Category.objects.exists()


def test_the_tree_lists_its_top_two_levels_nested_and_sorted(api_client, admin_auth):
    _create(api_client, admin_auth, ["All Products", "Produce", "Fruits"])
    _create(api_client, admin_auth, ["All Products", "Bakery"])
    response = api_client.get("/categories/")
    assert response.status_code == 200
    (root,) = response.json()["categories"]
    assert (root["name"], root["descendant_count"]) == ("All Products", 3)
    assert [child["name"] for child in root["children"]] == ["Bakery", "Produce"]
    produce = root["children"][1]
    assert (produce["descendant_count"], produce["children"]) == (1, [])
    deeper = api_client.get("/categories/", {"depth": 3}).json()["categories"][0]
    assert deeper["children"][1]["children"][0]["slug"] == "fruits"


@pytest.mark.parametrize("depth", ["0", "11", "two", ""])
def test_a_tree_depth_out_of_range_is_a_400_naming_it(api_client, depth):
    response = api_client.get("/categories/", {"depth": depth})
    assert response.status_code == 400
    assert "depth" in response.json()["error"]["details"]


@pytest.mark.parametrize("name", ["after", "page_size"])
def test_an_empty_export_parameter_is_a_400_naming_it(api_client, name):
    response = api_client.get("/categories/export/", {name: ""})
    assert response.status_code == 400
    assert name in response.json()["error"]["details"]


def test_children_page_by_name_down_the_tree(api_client, admin_auth):
    for name in ["Pears", "apples", "Figs", "Dates", "Cherries"]:
        _create(api_client, admin_auth, ["All", "Fruit", name])
    _create(api_client, admin_auth, ["All", "Fruit", "Figs", "Black"])
    first = api_client.get("/categories/fruit/children/", {"page_size": 3}).json()
    assert [child["name"] for child in first["results"]] == ["apples", "Cherries", "Dates"]
    second = api_client.get(first["next"]).json()
    assert [(c["name"], c["descendant_count"]) for c in second["results"]] == [
        ("Figs", 1),
        ("Pears", 0),
    ]
    assert second["next"] is None
    assert api_client.get("/categories/nope/children/").status_code == 404


def test_the_export_streams_every_category_in_pages_linked_by_header(api_client, admin_auth):
    _create(api_client, admin_auth, ["All", "Fruit", "Figs"])
    _create(api_client, admin_auth, ["All", "Export"])
    response = api_client.get("/categories/export/", {"page_size": 2})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-ndjson"
    lines = [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]
    assert [(line["name"], line["parent"]) for line in lines] == [("All", None), ("Fruit", "all")]
    following = response["Link"].removeprefix("<").split(">")[0]
    rest = api_client.get(following)
    lines = [json.loads(line) for line in b"".join(rest.streaming_content).splitlines()]
    assert [(line["name"], line["slug"]) for line in lines] == [
        ("Figs", "figs"),
        ("Export", "all-export"),
    ]
    assert not rest.has_header("Link")


def test_a_category_shows_its_ancestors_and_children(api_client, admin_auth):
    _create(api_client, admin_auth, ["All Products", "Produce", "Fruits", "Citrus"])
    _create(api_client, admin_auth, ["All Products", "Produce", "Fruits", "Berries"])
    response = api_client.get("/categories/fruits/")
    assert response.status_code == 200
    body = response.json()
    assert [node["slug"] for node in body["ancestors"]] == ["all-products", "produce"]
    assert [node["name"] for node in body["children"]] == ["Berries", "Citrus"]


def test_an_unknown_category_is_a_404(api_client):
    assert api_client.get("/categories/nope/").status_code == 404
    assert api_client.get("/categories/nope/average_price/").status_code == 404


def test_a_category_moves_with_its_subtree(api_client, admin_auth):
    _create(api_client, admin_auth, ["All Products", "Produce", "Fruits", "Citrus"])
    _create(api_client, admin_auth, ["All Products", "Fresh"])
    response = api_client.patch(
        "/categories/fruits/", {"parent": "fresh"}, format="json", **admin_auth
    )
    assert response.status_code == 200
    assert [node["slug"] for node in response.json()["ancestors"]] == ["all-products", "fresh"]
    assert api_client.get("/categories/citrus/").json()["path"] == [
        "All Products",
        "Fresh",
        "Fruits",
        "Citrus",
    ]
    to_root = api_client.patch("/categories/fruits/", {"parent": None}, format="json", **admin_auth)
    assert to_root.json()["level"] == 0


def test_a_category_cannot_move_under_itself_or_beside_a_namesake(api_client, admin_auth):
    _create(api_client, admin_auth, ["All Products", "Produce", "Fruits"])
    _create(api_client, admin_auth, ["All Products", "Frozen", "Fruits"])
    into_child = api_client.patch(
        "/categories/produce/", {"parent": "fruits"}, format="json", **admin_auth
    )
    assert into_child.status_code == 400
    assert into_child.json()["error"]["code"] == "invalid_move"
    namesake = api_client.patch(
        "/categories/fruits/", {"parent": "frozen"}, format="json", **admin_auth
    )
    assert namesake.status_code == 400
    unknown = api_client.patch(
        "/categories/fruits/", {"parent": "nope"}, format="json", **admin_auth
    )
    assert unknown.status_code == 404
    assert unknown.json()["error"]["message"] == "No category has the slug 'nope'."
    same = api_client.patch(
        "/categories/fruits/", {"parent": "produce"}, format="json", **admin_auth
    )
    assert same.status_code == 200


def test_categories_added_to_a_grown_tree_come_after_their_siblings_and_keep_it_valid(upload):
    upload(product(paths=[["Root", "A", "A1"], ["Root", "B"]]))
    # one new node (mptt's own insert), then several at once (one renumbering)
    upload(product(paths=[["Root", "A", "A2"]]))
    upload(product(paths=[["Root", "C"], ["Root", "A", "A3"], ["Root", "B", "B1"]]))
    root = Category.objects.get(name="Root")
    assert [c.name for c in root.get_children()] == ["A", "B", "C"]
    a = Category.objects.get(name="A")
    assert [c.name for c in a.get_children()] == ["A1", "A2", "A3"]
    assert root.get_descendant_count() == 7
    assert (root.lft, root.rght) == (1, 16)
    assert catalog_check().ok
