"""Page links handed out through the gateway point at the gateway, the only origin clients reach.

The services build ``next``/``previous`` with the host and scheme the gateway forwards
(X-Forwarded-Host/-Proto), which they believe because the gateway is a trusted proxy.
"""

import uuid
from urllib.parse import urlsplit

from ecomms_e2e.client import Api

ROOT = "Forwarded Links"
PRODUCTS = 120


def walk(api: Api, first_path: str) -> list[dict]:
    """Follow ``next`` from the first page to the last; return every page, checking each link."""
    gateway = urlsplit(api.gateway)
    pages = [api.get(first_path).json()]
    while pages[-1]["next"] is not None:
        link = urlsplit(pages[-1]["next"])
        assert (link.scheme, link.netloc) == (gateway.scheme, gateway.netloc), pages[-1]["next"]
        response = api.session.get(pages[-1]["next"], timeout=30)
        assert response.status_code == 200, response.text
        pages.append(response.json())
        previous = urlsplit(pages[-1]["previous"])
        assert (previous.scheme, previous.netloc) == (gateway.scheme, gateway.netloc)
        assert len(pages) <= 20, "the pages never end"
    return pages


def test_product_pages_link_to_the_gateway_from_first_to_last(admin, stack):
    products = [
        {
            "name": f"Linked {index}",
            "price": "1.00",
            "currency": "USD",
            "sku": f"LINK-{index}",
            "categories": [[ROOT]],
        }
        for index in range(PRODUCTS)
    ]
    uploaded = admin.post("/products/upload/", json={"products": products})
    assert uploaded.status_code == 201, uploaded.text
    slug = admin.category_slug([ROOT])

    anonymous = Api(stack.gateway)
    pages = walk(anonymous, f"/products/?category={slug}&page_size=50")

    assert [len(page["results"]) for page in pages] == [50, 50, 20]
    names = [item["name"] for page in pages for item in page["results"]]
    assert sorted(names) == sorted(product["name"] for product in products)


def test_order_pages_link_to_the_gateway_from_first_to_last(admin, stack):
    uploaded = admin.post(
        "/products/upload/",
        json={
            "products": [
                {
                    "name": "Linked order item",
                    "price": "2.50",
                    "currency": "USD",
                    "sku": "LINK-ORDER",
                    "categories": [[ROOT, "Orders"]],
                }
            ]
        },
    )
    assert uploaded.status_code == 201, uploaded.text
    item = uploaded.json()["created"][0]
    customer = Api.logged_in(stack.gateway, f"pager-{uuid.uuid4().hex[:8]}")
    placed = [customer.place_order([(item, 1)], key=str(uuid.uuid4())) for _ in range(5)]
    assert [answer.status_code for answer in placed] == [201] * 5, placed[-1].text

    pages = walk(customer, "/orders/?page_size=2")

    assert [len(page["results"]) for page in pages] == [2, 2, 1]
    ids = [order["id"] for page in pages for order in page["results"]]
    assert sorted(ids) == sorted(answer.json()["id"] for answer in placed)
