import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from ecomms_common.base_settings import DEVELOPMENT_SECRET_KEY, database, secret_key

LONG_RANDOM_KEY = "Qm3v-9xT_pL2wZr8Kc1yHn5JdF7sGa0bEu4iOt6kVq2mXw8zRj3Nl"


def test_database_reads_a_postgresql_url(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://shop@db.internal:6432/catalog")

    config = database()

    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["HOST"], config["PORT"], config["NAME"]) == ("db.internal", 6432, "catalog")
    assert config["OPTIONS"]["connect_timeout"] == 3
    assert config["CONN_HEALTH_CHECKS"] is True


def test_database_refuses_to_start_without_a_url(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)

    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL is not set"):
        database()


@pytest.mark.parametrize(
    "url", ["mysql://root@127.0.0.1/catalog", "oracle://shop@db.internal:1521/catalog"]
)
def test_database_refuses_other_engines(monkeypatch, url):
    monkeypatch.setenv("DATABASE_URL", url)

    with pytest.raises(ImproperlyConfigured, match="must name a PostgreSQL database"):
        database()


def django_check(**variables: str | None) -> subprocess.CompletedProcess:
    """Run ``manage.py check`` on the test settings in a new process, with ``variables`` changed
    (None: removed) in this process's environment."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    for name, value in variables.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return subprocess.run(
        [sys.executable, "-m", "django", "check"],
        cwd=Path(__file__).resolve().parent.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_process_started_without_a_database_url_says_what_it_needs():
    run = django_check(DATABASE_URL=None)

    assert run.returncode != 0
    last_line = run.stderr.strip().splitlines()[-1]
    assert "DATABASE_URL is not set" in last_line
    assert "PostgreSQL" in last_line


def test_the_shared_settings_name_no_consumer():
    # The bus names no consumer: each service declares its own queue with settings of its own.
    from ecomms_common import base_settings

    assert [name for name in dir(base_settings) if name.startswith("NOTIFIER")] == []


# --- SECRET_KEY ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        (None, "SECRET_KEY is not set"),
        (DEVELOPMENT_SECRET_KEY, "SECRET_KEY is a published development key"),
        ("django-insecure-" + LONG_RANDOM_KEY, "SECRET_KEY is a published development key"),
        (LONG_RANDOM_KEY[:49], "SECRET_KEY is too weak (49 characters"),
        ("ab" * 40, "SECRET_KEY is too weak (80 characters, 2 different)"),
    ],
)
def test_a_process_with_debug_off_refuses_a_missing_known_or_weak_key(key, problem):
    run = django_check(DEBUG="false", SECRET_KEY=key, SECRET_KEY_FILE=None)

    assert run.returncode != 0
    last_line = run.stderr.strip().splitlines()[-1]
    assert problem in last_line
    assert "set SECRET_KEY" in last_line
    assert "secrets.token_urlsafe(50)" in last_line


def test_a_process_with_debug_off_starts_with_a_long_random_key():
    run = django_check(DEBUG="false", SECRET_KEY=LONG_RANDOM_KEY, SECRET_KEY_FILE=None)

    assert run.returncode == 0, run.stderr
    assert "no issues" in run.stdout


def test_debug_off_is_the_default():
    run = django_check(DEBUG=None, SECRET_KEY=DEVELOPMENT_SECRET_KEY, SECRET_KEY_FILE=None)

    assert "SECRET_KEY is a published development key" in run.stderr


def test_debug_on_falls_back_to_the_development_key(monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("SECRET_KEY_FILE", raising=False)

    assert secret_key(debug=True) == DEVELOPMENT_SECRET_KEY
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY is not set"):
        secret_key(debug=False)


def test_the_key_can_come_from_a_file(monkeypatch, tmp_path):
    key_file = tmp_path / "secret-key"
    key_file.write_text(LONG_RANDOM_KEY + "\n")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("SECRET_KEY_FILE", str(key_file))

    assert secret_key(debug=False) == LONG_RANDOM_KEY

    key_file.write_text("short\n")
    with pytest.raises(ImproperlyConfigured, match=r"too weak \(5 characters"):
        secret_key(debug=False)


def test_an_unreadable_key_file_is_named(monkeypatch, tmp_path):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("SECRET_KEY_FILE", str(tmp_path / "missing"))

    with pytest.raises(ImproperlyConfigured, match=r"SECRET_KEY_FILE=.*missing cannot be read"):
        secret_key(debug=False)
