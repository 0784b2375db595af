"""What every service's Schemathesis run shares: the roles, the settings and the checks left out.

A service's ``tests/test_schema_fuzz.py`` loads its own schema and parametrizes over it::

    schema = schemathesis.openapi.from_wsgi("/schema/", application)

    @pytest.mark.django_db(transaction=True)
    @schema.parametrize()
    @FUZZ_SETTINGS
    def test_every_operation_answers_as_its_schema_says(case, role_headers):
        call_as_every_role(case, role_headers, excluded_checks(case))

Needs ``schemathesis`` and ``hypothesis`` (each service's test requirements pin them). The run is
short by default (``FUZZ_MAX_EXAMPLES``, 5 per operation and role); ``make fuzz`` runs it long.
"""

import os
from collections.abc import Callable, Mapping
from typing import Any

import hypothesis
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "5"))
# Every generated request is sent once as each: the roles a token carries, None for no token.
ROLES: dict[str, list[str] | None] = {
    "anonymous": None,
    "customer": ["customer"],
    "admin": ["admin"],
}
FUZZ_SETTINGS = hypothesis.settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(hypothesis.HealthCheck),
    database=None,
)


def role_headers_from(mint: Callable[..., str]) -> dict[str, dict[str, str]]:
    """Return each role's headers, its bearer token made by ``mint(roles=...)``."""
    return {
        role: {} if roles is None else {"Authorization": f"Bearer {mint(roles=roles)}"}
        for role, roles in ROLES.items()
    }


def excluded_checks(
    case: Any, *, positive_data_unchecked: Mapping[tuple[str, str], str] | None = None
) -> list[Callable]:
    """Return the checks that cannot hold for this case.

    ``positive_data_unchecked`` names the operations, ``(METHOD, path)``, where a schema-valid
    request may still be refused, with the reason no JSON Schema can say so. Query parameters an
    operation does not define are ignored, as HTTP APIs commonly do (only unknown fields of a body
    are refused), so a request carrying one is not expected to be refused.
    """
    excluded = []
    operation = (case.operation.method.upper(), case.operation.path)
    if operation in (positive_data_unchecked or {}):
        excluded.append(positive_data_acceptance)
    if set(case.query or {}) - {parameter.name for parameter in case.operation.query}:
        excluded.append(negative_data_rejection)
    return excluded


def call_as_every_role(
    case: Any, role_headers: Mapping[str, dict[str, str]], excluded: list[Callable]
) -> None:
    """Send the case once as each role and validate every answer against the schema."""
    for headers in role_headers.values():
        case.call_and_validate(headers=headers, excluded_checks=excluded)
