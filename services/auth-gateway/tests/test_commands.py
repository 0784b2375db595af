import pytest
from django.core.management import CommandError, call_command
from gateway.models import User

pytestmark = pytest.mark.django_db


def test_grant_admin_by_email_then_revoke(make_user) -> None:
    user = make_user(email="ops@example.com")
    call_command("grant_admin", "OPS@example.com")
    assert User.objects.get(pk=user.pk).roles == ["customer", "admin"]
    call_command("grant_admin", "ops@example.com", "--revoke")
    assert User.objects.get(pk=user.pk).roles == ["customer"]


def test_grant_admin_by_subject_or_user_id(make_user) -> None:
    by_sub = make_user(sub="google-123")
    by_id = make_user()
    call_command("grant_admin", "google-123")
    call_command("grant_admin", str(by_id.public_id))
    assert User.objects.get(pk=by_sub.pk).admin_granted
    assert User.objects.get(pk=by_id.pk).admin_granted


def test_grant_admin_refuses_an_unknown_or_ambiguous_user(make_user) -> None:
    with pytest.raises(CommandError, match="log in once"):
        call_command("grant_admin", "nobody@example.com")
    make_user(email="twin@example.com")
    make_user(email="twin@example.com")
    with pytest.raises(CommandError, match="Several users"):
        call_command("grant_admin", "twin@example.com")


def test_generate_signing_key_writes_a_private_key_once(tmp_path, settings) -> None:
    from gateway.identity.keys import key_ring

    path = tmp_path / "jwt.pem"
    call_command("generate_signing_key", str(path))
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    settings.JWT_PRIVATE_KEY = ""
    settings.JWT_PRIVATE_KEY_FILE = str(path)
    assert key_ring().signing_kid
    with pytest.raises(CommandError, match="not overwriting"):
        call_command("generate_signing_key", str(path))
