"""A guided tour of a running stack (``make up``), as an API client: ``make demo``.

Logs in through the local OpenID Connect provider, uploads a sample catalog, asks a few average
prices, places an order as a customer and shows the SMS and the admin email that went out.
"""

import argparse
import sys
import uuid
from decimal import Decimal
from pathlib import Path

import requests

from ecomms_e2e.client import (
    Api,
    expected_average,
    login,
    read_mail,
    read_sms,
    token_claims,
    wait_for,
)
from ecomms_e2e.phone import verify_phone

ROOT = Path(__file__).resolve().parents[3]
PHONE = "+254712345678"
SAMPLE_CATALOG = [
    ("Whole Wheat Bread", "3.99", [["All Products", "Bakery", "Bread"]]),
    ("Sourdough Loaf", "5.49", [["All Products", "Bakery", "Bread"]]),
    ("Croissant", "1.75", [["All Products", "Bakery", "Pastry"]]),
    ("Navel Oranges (1 kg)", "2.99", [["All Products", "Produce", "Fruits", "Citrus", "Oranges"]]),
    ("Lemons (6)", "2.40", [["All Products", "Produce", "Fruits", "Citrus", "Lemons"]]),
    ("Gala Apples (1 kg)", "3.20", [["All Products", "Produce", "Fruits", "Apples"]]),
    (
        "Orange Marmalade",
        "4.60",
        [["All Products", "Pantry", "Spreads"], ["All Products", "Produce", "Fruits", "Citrus"]],
    ),
]
SAMPLE_PRODUCTS = [
    {
        "name": name,
        "description": f"{name} (sample)",
        "price": price,
        "currency": "USD",
        "sku": f"DEMO-{index + 1:03d}",
        "categories": categories,
    }
    for index, (name, price, categories) in enumerate(SAMPLE_CATALOG)
]
ASKED = [
    ["All Products"],
    ["All Products", "Produce", "Fruits"],
    ["All Products", "Produce", "Fruits", "Citrus"],
    ["All Products", "Bakery"],
]


def step(number: int, title: str) -> None:
    print(f"\n{number}. {title}")
    print("   " + "-" * (len(title) + 1))


def show(text: str) -> None:
    for line in text.splitlines():
        print(f"   {line}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gateway", default="http://127.0.0.1:8000")
    parser.add_argument("--sms-record", type=Path, default=ROOT / "var" / "sms.jsonl")
    parser.add_argument("--maildir", type=Path, default=ROOT / "var" / "mail")
    parser.add_argument("--wait", type=float, default=30.0, help="seconds to wait for SMS/email")
    args = parser.parse_args(argv)
    gateway = args.gateway.rstrip("/")

    try:
        requests.get(f"{gateway}/healthz", timeout=5).raise_for_status()
    except requests.RequestException as exc:
        print(f"The gateway at {gateway} does not answer ({exc.__class__.__name__}).")
        print("Start the stack first with `make up`, then run `make demo` in another terminal.")
        return 1

    step(1, "Log in through OpenID Connect (the local provider stands in for Google)")
    tokens = {sub: login(gateway, sub) for sub in ("admin", "alice")}
    for sub, pair in tokens.items():
        claims = token_claims(pair["access"])
        show(f"{sub:<6} -> access token for {claims.get('email')}, roles {claims.get('roles')}")
    admin = Api(gateway, tokens["admin"]["access"])
    alice = Api(gateway, tokens["alice"]["access"])

    step(2, "The admin uploads a sample catalog: POST /products/upload/")
    response = admin.post("/products/upload/", json={"products": SAMPLE_PRODUCTS})
    response.raise_for_status()
    result = response.json()
    show(
        f"{len(result['created'])} products created, {len(result['updated'])} updated "
        f"(re-runs update by sku), {result['categories_created']} categories created"
    )
    for product in SAMPLE_PRODUCTS:
        paths = "; ".join(" > ".join(path) for path in product["categories"])
        show(f"{product['price']:>6} USD  {product['name']:<22} in {paths}")

    step(3, "Anyone asks average prices: GET /categories/{slug}/average_price/")
    show("(with more products already in the catalog, the figures include them too)")
    for path in ASKED:
        answer = alice.average_price(alice.category_slug(path))
        sample, count = expected_average(SAMPLE_PRODUCTS, path)
        average = answer["average_price"]
        shown = "-" if average is None else f"{Decimal(str(average)):.2f}"
        show(
            f"{' > '.join(path):<42} {shown:>7} {answer['currency']} "
            f"over {answer['product_count']} products (sample alone: {sample} over {count})"
        )

    step(4, "The customer verifies a phone (code by SMS) and places an order: POST /orders/")
    verify_phone(alice, args.sms_record, PHONE, timeout=args.wait)
    show(f"{PHONE} confirmed by the code texted to it: order SMS go there")
    ids = lookup_ids(admin, result)
    order = alice.place_order(
        [(ids["Whole Wheat Bread"], 2), (ids["Navel Oranges (1 kg)"], 1)], key=str(uuid.uuid4())
    )
    order.raise_for_status()
    placed = order.json()
    for item in placed["items"]:
        show(f"{item['quantity']} x {item['name']:<22} at {item['unit_price']} {item['currency']}")
    show(f"order #{placed['id']}: {placed['status']}, total {placed['total_amount']} USD")
    show("(prices come from the catalog; the client only sends ids and quantities)")

    step(5, "What went out: the SMS to the customer and the email to the admin")
    number, subject = f"#{placed['id']} ", f"New order #{placed['id']}"
    try:
        [sms] = wait_for(
            lambda: [s for s in read_sms(args.sms_record) if number in s["message"]],
            timeout=args.wait,
            what="the SMS",
        )
        show(f"SMS to {sms['to']}: {sms['message']}")
        [mail] = wait_for(
            lambda: [m for m in read_mail(args.maildir) if m["Subject"] == subject],
            timeout=args.wait,
            what="the email",
        )
        show(f"Email to {mail['To']}, subject {mail['Subject']!r}:")
        show("  " + mail.get_content().strip().replace("\n", "\n  "))
    except TimeoutError as exc:
        show(f"Nothing yet: {exc}. Are the relay and the notifier running (make up)?")
        return 1
    print(f"\nDone. More at {gateway}/docs/ (API docs), tokens at {gateway}/auth/token/.")
    return 0


def lookup_ids(admin: Api, result: dict) -> dict[str, int]:
    """Product name -> id for the sample's products (whether this run created or updated them)."""
    ids = result["created"] + result["updated"]
    response = admin.get("/products/lookup/", params={"ids": ",".join(map(str, ids))})
    response.raise_for_status()
    return {product["name"]: product["id"] for product in response.json()["products"]}


if __name__ == "__main__":
    sys.exit(main())
