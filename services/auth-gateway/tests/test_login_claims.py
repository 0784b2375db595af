"""What a provider puts in its claims never fails a login with a database error."""

import pytest
from gateway.models import User

from tests.conftest import finish_login, start_login

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        ({"name": "Ann\x00 Lee"}, {"name": "Ann Lee"}),
        ({"name": "N" * 5000}, {"name": "N" * 255}),
        ({"email": "a\x00b@example.com"}, {"email": "ab@example.com"}),
        ({"email": "e" * 300 + "@example.com"}, {"email": ""}),
        ({"phone_number": "+254" + "7" * 100}, {"phone": ""}),
        ({"given_name": "Ann\x07", "family_name": "L" * 400}, {"name": ("Ann " + "L" * 255)[:255]}),
    ],
)
def test_overlong_and_nul_profile_claims_are_cleaned(client, login, claims, expected) -> None:
    response = login(client, "claims-sub", **claims)
    assert response["Location"] == "/auth/token/"
    user = User.objects.get(oidc_sub="claims-sub")
    assert {field: getattr(user, field) for field in expected} == expected


@pytest.mark.parametrize("sub", ["s" * 256, "sub\x00one"])
def test_a_subject_that_cannot_key_a_user_fails_the_login(client, scripted_provider, sub) -> None:
    callback = scripted_provider.authorize(start_login(client), sub=sub)
    response = finish_login(client, callback)
    assert response.status_code == 401
    assert b"<code>login_failed</code>" in response.content
    assert not User.objects.exists()
