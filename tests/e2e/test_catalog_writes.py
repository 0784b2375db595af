"""Every kind of catalog write through the gateway, and the averages after each, cent-exact."""

from ecomms_e2e.client import find_slug

ROOT = "Gateway Writes"
ARCHIVE = "Gateway Writes Archive"


def product(sku: str, name: str, price: str, path: list[str]) -> dict:
    return {"name": name, "price": price, "currency": "USD", "sku": sku, "categories": [path]}


def average(admin, slug: str) -> tuple[str | None, int]:
    answer = admin.average_price(slug)
    value = answer["average_price"]
    return (None if value is None else f"{value:.2f}"), answer["product_count"]


def test_update_by_sku_move_and_delete_keep_the_averages_exact(admin):
    laptop = product("GW-1", "Laptop", "1499.00", [ROOT, "Laptops"])
    tablet = product("GW-2", "Tablet", "1099.99", [ROOT, "Tablets"])
    uploaded = admin.post("/products/upload/", json={"products": [laptop, tablet]})
    assert uploaded.status_code == 201, uploaded.text
    laptop_id, tablet_id = uploaded.json()["created"]
    root = admin.category_slug([ROOT])
    assert average(admin, root) == ("1299.50", 2)  # 1299.495, half-up

    repriced = admin.post("/products/upload/", json={"products": [{**tablet, "price": "1099.98"}]})
    assert repriced.status_code == 201, repriced.text
    assert repriced.json()["updated"] == [tablet_id]
    assert average(admin, root) == ("1299.49", 2)

    created = admin.post("/categories/", json={"path": [ARCHIVE]})
    assert created.status_code == 201, created.text
    tablets = admin.category_slug([ROOT, "Tablets"])
    moved = admin.patch(f"/categories/{tablets}/", json={"parent": created.json()["slug"]})
    assert moved.status_code == 200, moved.text
    trees = admin.get("/categories/").json()
    assert find_slug(trees, [ARCHIVE, "Tablets"]) == tablets
    assert average(admin, root) == ("1499.00", 1)
    assert average(admin, created.json()["slug"]) == ("1099.98", 1)

    deleted = admin.request("DELETE", f"/products/{laptop_id}/")
    assert deleted.status_code == 204, deleted.text
    assert admin.get(f"/products/{laptop_id}/").status_code == 404
    assert average(admin, root) == (None, 0)
