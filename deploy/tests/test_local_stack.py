"""The local stack (`make up`): each service connects as a role of its own that owns its database.

scripts/local-postgres create-databases runs against a throwaway embedded PostgreSQL of this test;
scripts/up and the Procfile are read for the URLs they give each process.
"""

import re
import subprocess

import psycopg
import pytest

from .conftest import local_postgres, started_server
from .dockerfiles import ROOT

DATABASES = ["catalog", "orders", "auth", "notifier"]
LOCAL_POSTGRES = ROOT / "scripts" / "local-postgres"


def as_role(server: str, role: str, database: str) -> psycopg.Connection:
    address = server.split("@", 1)[1]
    return psycopg.connect(f"postgres://{role}@{address}/{database}", autocommit=True)


def test_each_database_is_owned_by_a_role_of_its_own_that_only_it_may_use(embedded_server):
    server = embedded_server
    # A database left by an earlier make up: made, and migrated, by the superuser.
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute("CREATE DATABASE catalog")
    with psycopg.connect(f"{server}/catalog", autocommit=True) as admin:
        admin.execute("CREATE TABLE product (id bigserial PRIMARY KEY, name text)")
        admin.execute("CREATE SEQUENCE standalone")

    local_postgres("create-databases", server, *DATABASES)
    local_postgres("create-databases", server, *DATABASES)  # again: nothing changes, no error

    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        owners = dict(
            admin.execute(
                "SELECT datname, pg_get_userbyid(datdba) FROM pg_database WHERE datname = ANY(%s)",
                [DATABASES],
            ).fetchall()
        )
        assert owners == {name: name for name in DATABASES}
        powers = admin.execute(
            "SELECT rolname, rolsuper, rolcreatedb, rolcreaterole FROM pg_roles "
            "WHERE rolname = ANY(%s)",
            [DATABASES],
        ).fetchall()
        assert sorted(powers) == sorted((name, False, False, False) for name in DATABASES)

    for role in DATABASES:
        with as_role(server, role, role) as own:  # migrations run as the role: it may create
            own.execute("CREATE TABLE IF NOT EXISTS probe (id int)")
            own.execute("INSERT INTO probe VALUES (1)")
        for other in DATABASES:
            if other != role:
                with pytest.raises(psycopg.OperationalError, match="permission denied"):
                    as_role(server, role, other)

    # The superuser's objects of the earlier database now belong to its role.
    with as_role(server, "catalog", "catalog") as catalog:
        catalog.execute("INSERT INTO product (name) VALUES ('x')")
        catalog.execute("ALTER TABLE product ADD COLUMN price numeric")
        catalog.execute("SELECT nextval('standalone')")


def test_a_name_that_is_not_a_plain_identifier_is_refused():
    result = subprocess.run(
        [LOCAL_POSTGRES, "create-databases", "postgres://postgres@127.0.0.1:9", 'x"; --'],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "not a plain lower-case name" in result.stderr


def test_a_server_starts_with_the_settings_it_is_given():
    """make bench-10m starts its server sized for the catalog (scripts/bench-10m)."""
    with (
        started_server("--set", "shared_buffers=48MB", "--set", "max_wal_size=2GB") as server,
        psycopg.connect(f"{server}/postgres", autocommit=True) as connection,
    ):
        shown = {
            name: connection.execute(f"SHOW {name}").fetchone()[0]
            for name in ("shared_buffers", "max_wal_size", "fsync")
        }
    assert shown == {"shared_buffers": "48MB", "max_wal_size": "2GB", "fsync": "off"}


@pytest.mark.parametrize("given", ["shared_buffers=4GB -c fsync=off", "shared_buffers", "x='1'"])
def test_a_setting_that_is_not_one_word_is_refused(given):
    result = subprocess.run(
        [LOCAL_POSTGRES, "start", "--port", "9", "--set", given],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "give NAME=VALUE" in result.stderr


def test_make_up_gives_each_process_its_own_role():
    up = (ROOT / "scripts" / "up").read_text()
    assert 'create-databases "$database_server" catalog orders auth notifier' in up
    assert 'database_url() { echo "postgres://$1@$address/$1"; }' in up
    exported = dict(
        re.findall(r"^(ECOMMS_[A-Z]+_DATABASE_URL)=\$\(database_url (\w+)\)$", up, re.M)
    )
    assert sorted(exported.values()) == sorted(DATABASES)
    folders = {
        "catalog": "catalog",
        "orders": "orders",
        "auth": "auth-gateway",
        "notifier": "notifier",
    }
    checked = 0
    for line in (ROOT / "Procfile").read_text().splitlines():
        folder = re.search(r"cd services/([a-z-]+) ", line)
        variable = re.search(r"DATABASE_URL=\$(\w+)", line)
        if not folder:
            assert not variable, line
            continue
        assert variable, line
        database = exported[variable.group(1)]
        assert folders[database] == folder.group(1), line
        checked += 1
    # gateway, catalog, orders, relay and notifier; the stand-ins and the OIDC provider use none.
    assert checked == 5
    assert "$ECOMMS_DATABASE_SERVER" not in (ROOT / "Procfile").read_text()
