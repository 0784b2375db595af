"""Schemathesis runs every operation of /schema/ as anonymous, a customer and an admin.

Each generated request must get an answer the schema documents (status, body, headers), and never
a 5xx (ecomms_common.testing.fuzz: short here, long in ``make fuzz``).
"""

import pytest
import schemathesis

from config.wsgi import application
from ecomms_common.openapi import NO_NUL_PATTERN
from ecomms_common.testing.fuzz import (
    FUZZ_SETTINGS,
    call_as_every_role,
    excluded_checks,
    role_headers_from,
)

# Where a schema-valid request may still be refused, and why no JSON Schema can say so.
POSITIVE_DATA_UNCHECKED = {
    ("PATCH", "/customers/me/"): "a new phone number is taken only by confirming its code",
    ("POST", "/customers/me/phone/verification/"): "a mobile number by its country's plan",
    ("POST", "/customers/me/phone/verification/confirm/"): "only the code texted, while open",
    ("POST", "/orders/"): "product ids must exist in the catalog (422 unknown_products)",
}

# Loaded at collection (pytest-django has set Django up by then); the schema needs no database.
schema = schemathesis.openapi.from_wsgi("/schema/", application)


@pytest.fixture
def role_headers(local_jwks) -> dict[str, dict[str, str]]:
    return role_headers_from(local_jwks.mint)


@pytest.mark.django_db(transaction=True)  # requests go through WSGI, which closes connections
@schema.parametrize()
@FUZZ_SETTINGS
def test_every_operation_answers_as_its_schema_says(case, role_headers, catalog):
    """Orders are placed against the catalog stand-in (products 10, 15, 20 and 30)."""
    excluded = excluded_checks(case, positive_data_unchecked=POSITIVE_DATA_UNCHECKED)
    call_as_every_role(case, role_headers, excluded)


def test_text_filters_are_described_as_refusing_nul():
    """DRF refuses NUL in any text (PostgreSQL cannot store it): the schema of the list's query
    parameters says so, as it does for bodies, so a client knows a 400 is coming."""
    parameters = schema.raw_schema["paths"]["/orders/"]["get"]["parameters"]
    [customer] = [parameter for parameter in parameters if parameter["name"] == "customer"]
    assert customer["schema"]["pattern"] == NO_NUL_PATTERN
