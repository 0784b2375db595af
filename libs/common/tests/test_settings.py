import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from ecomms_common.base_settings import database


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


def test_a_process_started_without_a_database_url_says_what_it_needs():
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    env["DJANGO_SETTINGS_MODULE"] = "tests.settings"

    run = subprocess.run(
        [sys.executable, "-m", "django", "check"],
        cwd=Path(__file__).resolve().parent.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert run.returncode != 0
    last_line = run.stderr.strip().splitlines()[-1]
    assert "DATABASE_URL is not set" in last_line
    assert "PostgreSQL" in last_line


def test_the_shared_settings_name_no_consumer():
    # The bus names no consumer: each service declares its own queue with settings of its own.
    from ecomms_common import base_settings

    assert [name for name in dir(base_settings) if name.startswith("NOTIFIER")] == []
