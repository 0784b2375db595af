"""Schemathesis runs every operation of the gateway's own schema as anonymous, customer and admin.

The services' operations are fuzzed in their own suites; here the upstreams cannot be reached,
so /schema/ holds the gateway's own paths (tokens, keys, probes). ``make fuzz`` runs it long.
"""

import pytest
import schemathesis

from config.wsgi import application
from ecomms_common.testing.fuzz import (
    FUZZ_SETTINGS,
    call_as_every_role,
    excluded_checks,
    role_headers_from,
)
from tests.test_proxy import signed_by_gateway

# Loaded at collection (pytest-django has set Django up by then); the schema needs no database.
schema = schemathesis.openapi.from_wsgi("/schema/", application)


@pytest.fixture
def role_headers() -> dict[str, dict[str, str]]:
    return role_headers_from(signed_by_gateway)


@pytest.mark.django_db(transaction=True)  # requests go through WSGI, which closes connections
@schema.parametrize()
@FUZZ_SETTINGS
def test_every_operation_answers_as_its_schema_says(case, role_headers):
    call_as_every_role(case, role_headers, excluded_checks(case))
