"""Schemathesis runs every operation of /schema/ as anonymous, a customer and an admin.

Each generated request must get an answer the schema documents (status, body, headers), and never
a 5xx. The run here is short (``FUZZ_MAX_EXAMPLES``, default 5 per operation and role);
``make fuzz`` (scripts/fuzz) runs it long.
"""

import os

import hypothesis
import pytest
import schemathesis
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from config.wsgi import application

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "5"))
ROLES = {"anonymous": None, "customer": ["customer"], "admin": ["admin"]}


# Loaded at collection (pytest-django has set Django up by then); the schema needs no database.
schema = schemathesis.openapi.from_wsgi("/schema/", application)


@pytest.fixture
def role_headers(local_jwks) -> dict[str, dict[str, str]]:
    """Headers of each role: every generated request is sent once as each."""
    return {
        role: {} if roles is None else {"Authorization": f"Bearer {local_jwks.mint(roles=roles)}"}
        for role, roles in ROLES.items()
    }


@pytest.mark.django_db(transaction=True)  # requests go through WSGI, which closes connections
@schema.parametrize()
@hypothesis.settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(hypothesis.HealthCheck),
    database=None,
)
def test_every_operation_answers_as_its_schema_says(case, role_headers):
    excluded = []
    if case.operation.path == "/products/upload/":
        # A sku may appear once per upload: no JSON Schema can say so, so a schema-valid upload
        # may still be a 400 naming the repeated sku.
        excluded.append(positive_data_acceptance)
    # Query parameters the operation does not define are ignored, as HTTP APIs commonly do (only
    # unknown fields of a body are refused): such a request is not expected to be refused.
    if set(case.query or {}) - {parameter.name for parameter in case.operation.query}:
        excluded = [*excluded, negative_data_rejection]
    for headers in role_headers.values():
        case.call_and_validate(headers=headers, excluded_checks=excluded)
