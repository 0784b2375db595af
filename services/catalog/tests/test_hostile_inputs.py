"""Hostile input, one table: every case is a JSON 4xx (never a 5xx) and leaves no row behind."""

import base64
from urllib.parse import quote

import pytest
from catalog.models import Category, Product

from tests.conftest import product

pytestmark = pytest.mark.django_db

DEEP = "[" * 100_000 + "]" * 100_000


def _cursor(position: str) -> str:
    return quote(base64.b64encode(f"p={position}".encode()).decode())


def _path(depth: int) -> list[str]:
    return [f"Level {level}" for level in range(depth)]


# (name, method, path, body (a str is sent as it is), admin?, expected status)
CASES = [
    ("nested JSON, category path", "post", "/categories/", '{"path": ' + DEEP + "}", True, 400),
    (
        "nested JSON, category move",
        "patch",
        "/categories/root/",
        '{"parent": ' + DEEP + "}",
        True,
        400,
    ),
    ("nested JSON, upload", "post", "/products/upload/", '{"products": ' + DEEP + "}", True, 400),
    ("NUL in a slug", "get", "/categories/a%00b/", None, False, 404),
    ("NUL in a slug, average price", "get", "/categories/a%00b/average_price/", None, False, 404),
    ("NUL in a slug, move", "patch", "/categories/a%00b/", {"parent": None}, True, 404),
    ("NUL in the new parent", "patch", "/categories/root/", {"parent": "a\x00b"}, True, 400),
    ("NUL in the category filter", "get", "/products/?category=a%00b", None, False, 400),
    ("NUL in a category name", "post", "/categories/", {"path": ["a\x00b"]}, True, 400),
    (
        "NUL in a product name",
        "post",
        "/products/upload/",
        {"products": [product(name="a\x00")]},
        True,
        400,
    ),
    (
        "cursor offset not a number",
        "get",
        "/products/?cursor=" + quote(base64.b64encode(b"o=x&p=1").decode()),
        None,
        False,
        404,
    ),
    (
        "cursor position not a number",
        "get",
        f"/products/?cursor={_cursor('abc')}",
        None,
        False,
        404,
    ),
    (
        "cursor position past bigint",
        "get",
        f"/products/?cursor={_cursor('9' * 30)}",
        None,
        False,
        404,
    ),
    ("cursor position with NUL", "get", f"/products/?cursor={_cursor('1%00')}", None, False, 404),
    ("page size zero", "get", "/products/?page_size=0", None, False, 400),
    ("page size over the maximum", "get", "/products/?page_size=501", None, False, 400),
    ("page size not a number", "get", "/products/?page_size=ten", None, False, 400),
    (
        "lookup id past bigint",
        "get",
        "/products/lookup/?ids=99999999999999999999",
        None,
        False,
        400,
    ),
    ("path deeper than the limit", "post", "/categories/", {"path": _path(11)}, True, 400),
    (
        "upload path deeper than the limit",
        "post",
        "/products/upload/",
        {"products": [product(paths=[_path(11)])]},
        True,
        400,
    ),
    ("unknown field, category", "post", "/categories/", {"path": ["A"], "parent": "x"}, True, 400),
    ("unknown field, move", "patch", "/categories/root/", {"parent": None, "name": "x"}, True, 400),
    (
        "unknown field, upload",
        "post",
        "/products/upload/",
        {"products": [product()], "x": 1},
        True,
        400,
    ),
    ("body is not JSON", "post", "/categories/", "path=A", True, 400),
]


@pytest.fixture
def root(api_client, admin_auth) -> Category:
    api_client.post("/categories/", {"path": ["Root"]}, format="json", **admin_auth)
    return Category.objects.get(slug="root")


@pytest.mark.parametrize(
    ("method", "path", "body", "as_admin", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_hostile_input_is_a_json_4xx_and_writes_nothing(
    api_client, admin_auth, root, method, path, body, as_admin, expected
):
    categories_before = set(Category.objects.values_list("id", "parent_id", "lft", "rght"))
    headers = admin_auth if as_admin else {}
    send = getattr(api_client, method)
    if isinstance(body, str):
        response = send(path, body, content_type="application/json", **headers)
    elif body is None:
        response = send(path, **headers)
    else:
        response = send(path, body, format="json", **headers)
    assert response.status_code == expected, response.content[:300]
    assert response["Content-Type"] == "application/json"
    assert "error" in response.json()
    assert set(Category.objects.values_list("id", "parent_id", "lft", "rght")) == categories_before
    assert not Product.objects.exists()


def test_a_move_that_would_pass_the_depth_limit_is_refused(api_client, admin_auth):
    for path in (_path(9), ["Other", "Sub", "Leaf"]):
        api_client.post("/categories/", {"path": path}, format="json", **admin_auth)
    deepest = Category.objects.get(name="Level 8")
    before = set(Category.objects.values_list("id", "parent_id", "level"))

    response = api_client.patch(
        "/categories/other/", {"parent": deepest.slug}, format="json", **admin_auth
    )

    assert response.status_code == 400
    assert list(response.json()["error"]["details"]) == ["parent"]
    assert set(Category.objects.values_list("id", "parent_id", "level")) == before
    assert api_client.get("/categories/").status_code == 200


def test_a_move_that_ends_exactly_at_the_depth_limit_is_allowed(api_client, admin_auth):
    for path in (_path(9), ["Other"]):
        api_client.post("/categories/", {"path": path}, format="json", **admin_auth)
    response = api_client.patch(
        "/categories/other/", {"parent": "level-8"}, format="json", **admin_auth
    )
    assert response.status_code == 200, response.content
    assert response.json()["level"] == 9


def test_names_whose_lower_case_differs_between_python_and_postgresql_are_siblings(
    api_client, admin_auth
):
    # Python lower-cases a final capital sigma to U+03C2, PostgreSQL to U+03C3.
    first = api_client.post("/categories/", {"path": ["ΟΔΟΣ"]}, format="json", **admin_auth)
    second = api_client.post("/categories/", {"path": ["οδοσ"]}, format="json", **admin_auth)
    third = api_client.post(
        "/products/upload/", {"products": [product(paths=[["Οδος"]])]}, format="json", **admin_auth
    )
    assert first.status_code == 201
    assert second.status_code in (200, 201), second.content
    assert third.status_code == 201, third.content


def test_the_schema_of_average_price_names_the_currencies_the_validator_knows(api_client):
    from catalog.validation import KNOWN_CURRENCIES

    schema = api_client.get("/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    operation = schema["paths"]["/categories/{slug}/average_price/"]["get"]
    currency = next(p for p in operation["parameters"] if p["name"] == "currency")
    assert set(currency["schema"]["enum"]) == KNOWN_CURRENCIES
