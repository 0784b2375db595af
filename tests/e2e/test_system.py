"""The whole system through the gateway, as an API client uses it: OIDC login, a catalog upload
and its average prices, phone verification by SMS code, orders with their SMS and admin email,
idempotent retries."""

import uuid
from decimal import Decimal

import pytest
from ecomms_e2e.client import (
    Api,
    expected_average,
    login,
    read_mail,
    read_sms,
    token_claims,
    wait_for,
)
from ecomms_e2e.phone import texted_codes, verify_phone

# Shared leaf names under different parents ("Organic", "Bread"), a deep path, products in
# several categories, and prices whose averages need rounding.
CATALOG = [
    ("Navel Oranges", "4.99", [["All Products", "Produce", "Fruits", "Citrus", "Oranges"]]),
    ("Blood Oranges", "5.49", [["All Products", "Produce", "Fruits", "Citrus", "Oranges"]]),
    ("Lemons", "0.79", [["All Products", "Produce", "Fruits", "Citrus", "Lemons"]]),
    ("Gala Apples", "3.10", [["All Products", "Produce", "Fruits", "Apples"]]),
    (
        "Organic Carrots",
        "1.99",
        [["All Products", "Produce", "Vegetables", "Organic"], ["All Products", "Organic"]],
    ),
    ("Organic Spelt Loaf", "6.25", [["All Products", "Bakery", "Bread", "Organic"]]),
    ("Sourdough", "4.50", [["All Products", "Bakery", "Bread", "Sourdough"]]),
    (
        "Orange Brioche",
        "7.35",
        [
            ["All Products", "Bakery", "Bread", "Sweet"],
            ["All Products", "Produce", "Fruits", "Citrus", "Oranges"],
        ],
    ),
    ("Pantry Bread Mix", "2.00", [["All Products", "Pantry", "Bread"]]),
]
PRODUCTS = [
    {
        "name": name,
        "description": f"{name}, end-to-end test",
        "price": price,
        "currency": "USD",
        "sku": f"E2E-{index}",
        "categories": categories,
    }
    for index, (name, price, categories) in enumerate(CATALOG)
]
LEVELS = [
    ["All Products"],
    ["All Products", "Produce"],
    ["All Products", "Produce", "Fruits"],
    ["All Products", "Produce", "Fruits", "Citrus"],
    ["All Products", "Produce", "Fruits", "Citrus", "Oranges"],
    ["All Products", "Bakery", "Bread"],
    ["All Products", "Bakery", "Bread", "Organic"],
    ["All Products", "Produce", "Vegetables", "Organic"],
    ["All Products", "Pantry", "Bread"],
]
PHONE = "+254711222333"


@pytest.fixture(scope="module")
def catalog(admin):
    """The uploaded catalog: product name -> id."""
    response = admin.post("/products/upload/", json={"products": PRODUCTS})
    assert response.status_code == 201, response.text
    created = response.json()["created"]
    assert len(created) == len(PRODUCTS)
    return dict(zip([p["name"] for p in PRODUCTS], created, strict=True))


@pytest.fixture(scope="module")
def alice_order(stack, alice, catalog):
    """Alice verifies her phone (the code from its SMS) and places an order (prices from the
    catalog: hers are refused)."""
    assert verify_phone(alice, stack.sms_record, PHONE)["phone_verified"] is True
    items = [
        {"product_id": catalog["Navel Oranges"], "quantity": 3},
        {"product_id": catalog["Sourdough"], "quantity": 1},
    ]
    priced = alice.post(
        "/orders/",
        json={
            "items": [{**items[0], "unit_price": "0.01"}, items[1]],
            "currency": "USD",
            "total_amount": "0.01",
        },
    )
    assert priced.status_code == 400, priced.text
    assert priced.json()["error"]["details"] == {
        "total_amount": ["Unknown field."],
        "items": {"0": {"unit_price": ["Unknown field."]}},
    }
    response = alice.post(
        "/orders/",
        json={"items": items, "currency": "USD"},
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_admin_and_customer_log_in_through_the_oidc_code_flow(stack, admin, alice):
    tokens = login(stack.gateway, "admin")
    assert tokens["access"] and tokens["refresh"]
    assert "admin" in token_claims(tokens["access"])["roles"]
    assert "admin" not in token_claims(login(stack.gateway, "alice")["access"])["roles"]
    me = alice.get("/customers/me/")
    assert me.status_code == 200, me.text
    assert me.json()["email"] == "alice@example.com"
    assert alice.get("/orders/").status_code == 200
    anonymous = type(alice)(alice.gateway)
    assert anonymous.get("/orders/").status_code == 401


def test_uploaded_catalog_keeps_shared_names_apart_under_their_parents(admin, catalog):
    slugs = {tuple(level): admin.category_slug(level) for level in LEVELS}
    assert len(set(slugs.values())) == len(LEVELS)


@pytest.mark.parametrize("level", LEVELS, ids=[" > ".join(level[1:]) or "root" for level in LEVELS])
def test_average_price_at_every_level_matches_a_recomputation(admin, catalog, level):
    average, count = expected_average(PRODUCTS, level)
    answer = admin.average_price(admin.category_slug(level))
    assert answer["product_count"] == count
    assert Decimal(str(answer["average_price"])) == average
    assert answer["currency"] == "USD"


def test_order_prices_come_from_the_catalog_not_from_the_client(alice_order, catalog):
    lines = {item["product"]: item for item in alice_order["items"]}
    assert lines[catalog["Navel Oranges"]]["unit_price"] == "4.99"
    assert lines[catalog["Sourdough"]]["unit_price"] == "4.50"
    assert alice_order["total_amount"] == "19.47"  # 3 * 4.99 + 4.50
    assert alice_order["status"] == "PENDING"


def test_customer_lists_and_reads_her_own_order(alice, alice_order):
    listed = alice.get("/orders/")
    assert listed.status_code == 200
    assert alice_order["id"] in [order["id"] for order in listed.json()["results"]]
    read = alice.get(f"/orders/{alice_order['id']}/")
    assert read.status_code == 200
    assert read.json()["total_amount"] == "19.47"


def test_customer_cannot_read_another_customers_order(alice, bob, catalog):
    placed = bob.place_order([(catalog["Lemons"], 2)], key=str(uuid.uuid4()))
    assert placed.status_code == 201, placed.text
    response = alice.get(f"/orders/{placed.json()['id']}/")
    assert response.status_code == 404
    assert response.json()["error"]["code"]


def test_customer_cannot_upload_products(alice):
    response = alice.post("/products/upload/", json={"products": PRODUCTS[:1]})
    assert response.status_code == 403
    assert "error" in response.json()


def test_sms_and_admin_email_arrive_once_with_the_order(stack, alice_order):
    number = f"#{alice_order['id']} "

    def sms_for_order():
        return [sms for sms in read_sms(stack.sms_record) if number in sms["message"]]

    def mail_for_order():
        return [m for m in read_mail(stack.maildir) if m["Subject"] == f"New order {number[:-1]}"]

    [sms] = wait_for(sms_for_order, timeout=30, what="the order's SMS")
    assert sms["to"] == PHONE
    assert "Total: 19.47 USD" in sms["message"]
    [mail] = wait_for(mail_for_order, timeout=30, what="the order's admin email")
    assert mail["To"] == "admin@example.com"
    body = mail.get_content()
    assert "Customer: Alice Customer" in body
    assert "Total: 19.47 USD" in body
    assert "Items: 2" in body


def test_retried_order_with_the_same_idempotency_key_creates_nothing_new(stack, alice, catalog):
    key = str(uuid.uuid4())
    items = [(catalog["Gala Apples"], 2)]
    first = alice.place_order(items, key=key)
    assert first.status_code == 201, first.text
    listed = [order["id"] for order in alice.get("/orders/?page_size=100").json()["results"]]
    retried = alice.place_order(items, key=key)
    assert retried.status_code == 201
    assert retried.json()["id"] == first.json()["id"]
    assert retried.headers.get("Idempotent-Replayed") == "true"
    relisted = alice.get("/orders/?page_size=100").json()["results"]
    assert [order["id"] for order in relisted] == listed
    number = f"#{first.json()['id']} "
    wait_for(
        lambda: [m for m in read_mail(stack.maildir) if m["Subject"] == f"New order {number[:-1]}"],
        timeout=30,
        what="the order's admin email",
    )
    sms = [s for s in read_sms(stack.sms_record) if number in s["message"]]
    assert len(sms) == 1


CAROL_PHONE = "+254711444555"


def test_order_sms_go_only_to_a_number_confirmed_by_its_code(stack, catalog):
    """Carol asks for a code and guesses: refused, then the code is dead. Her order sends no SMS
    (the number is not hers until confirmed). A new code, confirmed: her next order texts her."""
    carol = Api.logged_in(stack.gateway, "carol")
    started = carol.post("/customers/me/phone/verification/", json={"phone": CAROL_PHONE})
    assert started.status_code == 202, started.text
    [code] = wait_for(
        lambda: texted_codes(stack.sms_record, CAROL_PHONE), timeout=30, what="carol's code"
    )
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    guesses = [
        carol.post("/customers/me/phone/verification/confirm/", json={"code": wrong})
        for _ in range(5)
    ]
    assert [g.status_code for g in guesses] == [400] * 5
    dead = carol.post("/customers/me/phone/verification/confirm/", json={"code": code})
    assert dead.status_code == 429, dead.text
    assert int(dead.headers["Retry-After"]) >= 1
    assert carol.patch("/customers/me/", json={"phone": CAROL_PHONE}).status_code == 400
    assert carol.get("/customers/me/").json()["phone_verified"] is False

    unverified = carol.place_order([(catalog["Lemons"], 1)], key=str(uuid.uuid4())).json()
    _wait_for_admin_email(stack, unverified["id"])  # the order's events have been handled

    assert _order_sms(stack, unverified["id"]) == []
    assert [s["to"] for s in read_sms(stack.sms_record)].count(CAROL_PHONE) == 1  # the code

    assert verify_phone(carol, stack.sms_record, CAROL_PHONE)["phone_verified"] is True
    verified = carol.place_order([(catalog["Lemons"], 1)], key=str(uuid.uuid4())).json()
    [sms] = wait_for(
        lambda: _order_sms(stack, verified["id"]), timeout=30, what="carol's order SMS"
    )
    assert sms["to"] == CAROL_PHONE


def _order_sms(stack, order_id: int) -> list[dict]:
    return [s for s in read_sms(stack.sms_record) if f"#{order_id} " in s["message"]]


def _wait_for_admin_email(stack, order_id: int) -> None:
    wait_for(
        lambda: [m for m in read_mail(stack.maildir) if m["Subject"] == f"New order #{order_id}"],
        timeout=30,
        what=f"order {order_id}'s admin email",
    )
