"""The main job through a client generated from the gateway's /schema/, with no request by hand.

openapi-python-client (pinned in requirements-test.txt) generates the client at test time into a
temporary folder. Logging in is the OIDC browser flow (``login``); everything after it goes
through the generated client with the bearer token, in a process of its own with the client's
folder on ``PYTHONPATH`` (``ecomms_e2e.generated_job``): upload, average price, place, list, page
through and cancel orders. The merged schema itself is checked first: OpenAPI 3, and every
operation of the catalog's and orders' own schemas present.
"""

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import requests
from ecomms_e2e.client import login

E2E = Path(__file__).resolve().parent
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
    """Generate the client from the gateway's schema; return the folder holding its package
    (``ecomms_client``)."""
    folder = tmp_path_factory.mktemp("generated")
    (folder / "schema.json").write_text(json.dumps(gateway_schema))
    # The category export streams JSON lines (application/x-ndjson), a media type the generator
    # does not know: its documented override reads it as bytes, as a client team would set it.
    (folder / "config.yaml").write_text(
        "post_hooks: []\n"
        "content_type_overrides:\n"
        "  application/x-ndjson: application/octet-stream\n"
    )
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
    assert (folder / "ecomms_client" / "__init__.py").is_file()
    return folder


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


def test_the_main_job_through_the_generated_client(stack, client_package):
    admin = login(stack.gateway, "admin")["access"]
    customer = login(stack.gateway, f"generated-{uuid.uuid4().hex[:8]}")["access"]
    run = uuid.uuid4().hex[:8]
    # In a process of its own, with the generated package's folder on its PYTHONPATH.
    job = subprocess.run(
        [sys.executable, "-m", "ecomms_e2e.generated_job", stack.gateway, admin, customer, run],
        cwd=E2E,
        env={**os.environ, "PYTHONPATH": str(client_package)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert job.returncode == 0, job.stdout + job.stderr
    seen = json.loads(job.stdout)

    assert len(seen["created"]) == 3
    assert seen["average"] == [3, 4.58]
    assert seen["listed"] == sorted(seen["created"], reverse=True)  # newest first, the default
    assert not seen["last_page_has_next"]
    assert seen["totals"] == ["4.00", "9.00", "14.50"]
    assert [i for page in seen["order_pages"] for i in page] == list(reversed(seen["placed"]))
    assert len(seen["order_pages"]) == 2
    assert seen["cancelled"] == "CANCELLED"
    assert seen["status_after_cancel"] == "CANCELLED"
