"""The main job through a client generated from the gateway's /schema/, with no request by hand.

openapi-python-client (pinned in requirements-test.txt) generates the client at test time into a
temporary folder. Logging in is the OIDC browser flow (``login``); everything after it goes
through the generated client with the bearer token: upload, average price, place, list, page
through and cancel orders. The merged schema itself is checked first: OpenAPI 3, and every
operation of the catalog's and orders' own schemas present.
"""

import importlib
import json
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from ecomms_e2e.client import login

OPS_PATHS = {"/healthz", "/readyz", "/metrics", "/schema/", "/docs/"}
JSON_SCHEMA = {"Accept": "application/vnd.oai.openapi+json"}


def _schema(base_url: str) -> dict:
    response = requests.get(f"{base_url}/schema/", headers=JSON_SCHEMA, timeout=30)
    assert response.status_code == 200, response.text[:300]
    return response.json()


@pytest.fixture(scope="module")
def gateway_schema(stack) -> dict:
    return _schema(stack.gateway)


@pytest.fixture(scope="module")
def client_package(gateway_schema, tmp_path_factory):
    """Generate the client from the gateway's schema; return its package (``ecomms_client``)."""
    folder = tmp_path_factory.mktemp("generated")
    (folder / "schema.json").write_text(json.dumps(gateway_schema))
    (folder / "config.yaml").write_text("post_hooks: []\n")
    generator = Path(sys.executable).parent / "openapi-python-client"
    generated = subprocess.run(
        [
            str(generator),
            "generate",
            "--path",
            str(folder / "schema.json"),
            "--meta",
            "none",
            "--output-path",
            str(folder / "ecomms_client"),
            "--config",
            str(folder / "config.yaml"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert generated.returncode == 0, generated.stdout + generated.stderr
    assert "Warning" not in generated.stdout + generated.stderr, generated.stdout
    sys.path.insert(0, str(folder))
    try:
        yield importlib.import_module("ecomms_client")
    finally:
        sys.path.remove(str(folder))
        for name in [name for name in sys.modules if name.startswith("ecomms_client")]:
            del sys.modules[name]


def test_the_merged_schema_is_openapi_3_with_every_proxied_operation(stack, gateway_schema):
    assert gateway_schema["openapi"].startswith("3.")
    assert "Unavailable right now" not in gateway_schema["info"].get("description", "")
    for service in ("catalog", "orders"):
        own = _schema(f"http://127.0.0.1:{stack.ports[service]}")
        for path, operations in own["paths"].items():
            if path in OPS_PATHS:
                continue
            assert set(operations) <= set(gateway_schema["paths"].get(path, {})), (service, path)
    assert set(gateway_schema["components"]["schemas"]["Error"]["properties"]) == {"error"}


def _cursor(link: str | None) -> str | None:
    return None if link is None else parse_qs(urlsplit(link).query)["cursor"][0]


def test_the_main_job_through_the_generated_client(stack, client_package):
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

    def client_for(sub: str):
        return client_package.AuthenticatedClient(
            base_url=stack.gateway,
            token=login(stack.gateway, sub)["access"],
            raise_on_unexpected_status=True,
        )

    admin, customer = client_for("admin"), client_for(f"generated-{uuid.uuid4().hex[:8]}")
    run = uuid.uuid4().hex[:8]
    path = ["Generated Client", f"Run {run}"]

    leaf = categories_create.sync(client=admin, body=CategoriesCreateBody.from_dict({"path": path}))
    prices = ["2.00", "4.50", "7.25"]
    upload = products_upload_create.sync(
        client=admin,
        body=ProductsUploadCreateBody.from_dict(
            {
                "products": [
                    {
                        "name": f"Item {n}",
                        "price": price,
                        "sku": f"GEN-{run}-{n}",
                        "categories": [path],
                    }
                    for n, price in enumerate(prices)
                ]
            }
        ),
    )
    assert len(upload.created) == 3

    average = categories_average_price_retrieve.sync(
        leaf.slug, client=admin, currency=CategoriesAveragePriceRetrieveCurrency.USD
    )
    assert (average.product_count, average.average_price) == (3, 4.58)

    listed = products_list.sync(client=customer, category=leaf.slug, page_size=2)
    rest = products_list.sync(client=customer, category=leaf.slug, cursor=_cursor(listed.next_))
    assert [p.id for p in listed.results + rest.results] == sorted(upload.created)
    assert rest.next_ is None

    placed = []
    for product_id in upload.created:
        order = orders_create.sync(
            client=customer,
            body=OrderPlaceInputRequest.from_dict(
                {"items": [{"product_id": product_id, "quantity": 2}], "currency": "USD"}
            ),
            idempotency_key=str(uuid.uuid4()),
        )
        placed.append(order)
    assert [str(order.total_amount) for order in placed] == ["4.00", "9.00", "14.50"]

    pages = [orders_list.sync(client=customer, page_size=2)]
    while pages[-1].next_ is not None:
        pages.append(
            orders_list.sync(client=customer, page_size=2, cursor=_cursor(pages[-1].next_))
        )
    assert [o.id for page in pages for o in page.results] == [o.id for o in reversed(placed)]
    assert len(pages) == 2

    cancelled = orders_cancel_create.sync(placed[0].id, client=customer)
    assert cancelled.status.value == "CANCELLED"
    assert orders_retrieve.sync(placed[0].id, client=customer).status.value == "CANCELLED"
