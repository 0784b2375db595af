"""Catalog reads through the gateway: caches see ETag and Cache-Control, and 304 comes back.

The gateway passes conditional requests and their answers through untouched, so a client (or a
CDN in front of the gateway) revalidates a product, a page, a category or an average price for
the price of a 304, and gets the new body once a write changed it.
"""

from ecomms_e2e.client import Api

ROOT = "Cached Reads"


def _upload(admin: Api, price: str) -> None:
    uploaded = admin.post(
        "/products/upload/",
        json={
            "products": [
                {
                    "name": "Cached tea",
                    "price": price,
                    "currency": "USD",
                    "sku": "CACHE-TEA",
                    "categories": [[ROOT, "Tea"]],
                }
            ]
        },
    )
    assert uploaded.status_code == 201, uploaded.text


def test_anonymous_reads_revalidate_with_304_until_an_upload_changes_them(admin, stack):
    _upload(admin, "4.00")
    slug = admin.category_slug([ROOT])
    product_id = admin.get(f"/products/?category={slug}").json()["results"][0]["id"]
    anonymous = Api(stack.gateway)
    paths = [
        f"/products/{product_id}/",
        f"/products/?category={slug}&page_size=10",
        f"/categories/{slug}/",
        f"/categories/{slug}/average_price/?currency=USD",
    ]
    tags = {}
    for path in paths:
        first = anonymous.session.get(f"{stack.gateway}{path}", timeout=30)
        assert first.status_code == 200, (path, first.text)
        assert "stale-while-revalidate=" in first.headers["Cache-Control"], path
        tags[path] = first.headers["ETag"]
        again = anonymous.session.get(
            f"{stack.gateway}{path}", headers={"If-None-Match": tags[path]}, timeout=30
        )
        assert (again.status_code, again.content) == (304, b""), path
        assert again.headers["ETag"] == tags[path]

    _upload(admin, "5.00")  # the same sku: the product's price changes
    for path in paths[:2] + paths[3:]:  # the category's own answer does not show prices
        changed = anonymous.session.get(
            f"{stack.gateway}{path}", headers={"If-None-Match": tags[path]}, timeout=30
        )
        assert changed.status_code == 200, path
        assert changed.headers["ETag"] != tags[path]
    assert anonymous.get(f"/products/{product_id}/").json()["price"] == "5.00"
