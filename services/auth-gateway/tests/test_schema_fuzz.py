"""Schemathesis runs every operation of the gateway's own schema as anonymous, customer and admin.

The services' operations are fuzzed in their own suites; here the upstreams cannot be reached,
so /schema/ holds the gateway's own paths (tokens, keys, probes). ``make fuzz`` runs it long.
"""

import os

import hypothesis
import pytest
import schemathesis
from schemathesis.specs.openapi.checks import negative_data_rejection

from config.wsgi import application
from tests.test_proxy import signed_by_gateway

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "5"))
ROLES = {"anonymous": None, "customer": ["customer"], "admin": ["admin"]}

# Loaded at collection (pytest-django has set Django up by then); the schema needs no database.
schema = schemathesis.openapi.from_wsgi("/schema/", application)


@pytest.fixture
def role_headers() -> dict[str, dict[str, str]]:
    """Headers of each role: every generated request is sent once as each."""
    return {
        role: {} if roles is None else {"Authorization": f"Bearer {signed_by_gateway(roles=roles)}"}
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
    # Query parameters the operation does not define are ignored (only unknown body fields are
    # refused): such a request is not expected to be refused.
    if set(case.query or {}) - {parameter.name for parameter in case.operation.query}:
        excluded.append(negative_data_rejection)
    for headers in role_headers.values():
        case.call_and_validate(headers=headers, excluded_checks=excluded)
