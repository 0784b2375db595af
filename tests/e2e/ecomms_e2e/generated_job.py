"""The main job through the client generated from the gateway's schema (``ecomms_client``).

``test_generated_client.py`` runs it in a process of its own, with the generated package's folder
on ``PYTHONPATH``, so that the test's own interpreter never imports it::

    python -m ecomms_e2e.generated_job GATEWAY_URL ADMIN_TOKEN CUSTOMER_TOKEN RUN

Upload, average price, list, place, page through and cancel orders, all through the generated
client; it prints what it saw as one JSON object for the test to check.
"""

import json
import sys
import uuid
from urllib.parse import parse_qs, urlsplit

from ecomms_client import AuthenticatedClient
from ecomms_client.api.categories import categories_average_price_retrieve, categories_create
from ecomms_client.api.orders import (
    orders_cancel_create,
    orders_create,
    orders_list,
    orders_retrieve,
)
from ecomms_client.api.products import products_list, products_upload_create
from ecomms_client.models import (
    CategoriesAveragePriceRetrieveCurrency,
    CategoriesCreateBody,
    OrderPlaceInputRequest,
    ProductsUploadCreateBody,
)

PRICES = ["2.00", "4.50", "7.25"]


def _cursor(link: str | None) -> str | None:
    return None if link is None else parse_qs(urlsplit(link).query)["cursor"][0]


def main_job(gateway: str, admin_token: str, customer_token: str, run: str) -> dict:
    """Do the main job as an admin and a customer; return what each step answered."""
    admin, customer = (
        AuthenticatedClient(base_url=gateway, token=token, raise_on_unexpected_status=True)
        for token in (admin_token, customer_token)
    )
    path = ["Generated Client", f"Run {run}"]
    leaf = categories_create.sync(client=admin, body=CategoriesCreateBody.from_dict({"path": path}))
    products = [
        {"name": f"Item {n}", "price": price, "sku": f"GEN-{run}-{n}", "categories": [path]}
        for n, price in enumerate(PRICES)
    ]
    upload = products_upload_create.sync(
        client=admin, body=ProductsUploadCreateBody.from_dict({"products": products})
    )
    average = categories_average_price_retrieve.sync(
        leaf.slug, client=admin, currency=CategoriesAveragePriceRetrieveCurrency.USD
    )
    listed = products_list.sync(client=customer, category=leaf.slug, page_size=2)
    rest = products_list.sync(client=customer, category=leaf.slug, cursor=_cursor(listed.next_))

    placed = [
        orders_create.sync(
            client=customer,
            body=OrderPlaceInputRequest.from_dict(
                {"items": [{"product_id": product_id, "quantity": 2}], "currency": "USD"}
            ),
            idempotency_key=str(uuid.uuid4()),
        )
        for product_id in upload.created
    ]
    pages = [orders_list.sync(client=customer, page_size=2)]
    while pages[-1].next_ is not None:
        pages.append(
            orders_list.sync(client=customer, page_size=2, cursor=_cursor(pages[-1].next_))
        )
    cancelled = orders_cancel_create.sync(placed[0].id, client=customer)
    return {
        "created": upload.created,
        "average": [average.product_count, average.average_price],
        "listed": [p.id for p in listed.results + rest.results],
        "last_page_has_next": rest.next_ is not None,
        "placed": [order.id for order in placed],
        "totals": [str(order.total_amount) for order in placed],
        "order_pages": [[o.id for o in page.results] for page in pages],
        "cancelled": cancelled.status.value,
        "status_after_cancel": orders_retrieve.sync(placed[0].id, client=customer).status.value,
    }


if __name__ == "__main__":
    print(json.dumps(main_job(*sys.argv[1:5])))
