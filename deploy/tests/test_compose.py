"""docker-compose.yml: valid against the compose specification, and the stack it describes."""

import pytest
import yaml

from .compose import COMPOSE_FILE, compose, resolved
from .dockerfiles import SERVICES
from .manifests import objects

WEB = {"catalog": 8001, "orders": 8002, "auth-gateway": 8000}
LONG_RUNNING = [*SERVICES, "relay", "sms", "oidc", "mailpit", "postgres", "rabbitmq"]


def test_compose_file_is_valid_against_the_compose_specification():
    # `config` validates the file against the compose-spec JSON schema built into compose.
    result = compose("config", "--quiet")
    assert result.returncode == 0, result.stderr


def test_a_file_that_breaks_the_specification_is_refused(tmp_path):
    broken = tmp_path / "docker-compose.yml"
    broken.write_text("services:\n  web:\n    image: x\n    restart_when: always\n")
    result = compose("-f", str(broken), "config", "--quiet")
    assert result.returncode != 0
    assert "restart_when" in result.stderr


# --- published ports ---------------------------------------------------------------------------


def ports_not_on_loopback(document: dict) -> list[tuple[str, object]]:
    """(service, entry) for every published port of a compose file not bound to 127.0.0.1."""
    found = []
    for name, service in document.get("services", {}).items():
        for entry in service.get("ports", []):
            if isinstance(entry, dict):  # long syntax
                bound = entry.get("host_ip") == "127.0.0.1"
            else:  # "[HOST_IP:][HOST:]CONTAINER[/PROTOCOL]"
                bound = str(entry).startswith("127.0.0.1:") and str(entry).count(":") == 2
            if not bound:
                found.append((name, entry))
    return found


def test_every_published_port_is_bound_to_the_loopback_address():
    document = yaml.safe_load(COMPOSE_FILE.read_text())
    assert ports_not_on_loopback(document) == []
    # and as compose itself reads the file
    services = resolved()["services"]
    published = [(name, p) for name, spec in services.items() for p in spec.get("ports", [])]
    assert len(published) >= 7
    assert [(name, p) for name, p in published if p.get("host_ip") != "127.0.0.1"] == []


@pytest.mark.parametrize(
    "entry",
    [
        "8000:8000",
        "0.0.0.0:8000:8000",
        "8000",
        "127.0.0.1:8000",
        {"target": 8000, "published": 8000},
    ],
)
def test_a_port_open_to_every_interface_is_found(entry):
    document = {"services": {"web": {"ports": ["127.0.0.1:9000:9000", entry]}}}
    assert ports_not_on_loopback(document) == [("web", entry)]


def test_stack_has_every_part():
    services = resolved()["services"]
    for name in (*LONG_RUNNING, *(f"{s}-migrate" for s in SERVICES)):
        assert name in services, name
    assert services["rabbitmq"]["image"].startswith("rabbitmq:3.13-management")
    assert services["mailpit"]["image"].startswith("axllent/mailpit")
    assert any(p["target"] == 8025 for p in services["mailpit"]["ports"])  # the mail web UI
    assert any(p["target"] == 15672 for p in services["rabbitmq"]["ports"])  # management UI
    gateway_ports = {(p["published"], p["target"]) for p in services["auth-gateway"]["ports"]}
    assert ("8000", 8000) in gateway_ports


@pytest.mark.parametrize("service", SERVICES)
def test_migrations_run_before_the_service_starts(service):
    services = resolved()["services"]
    migrate = services[f"{service}-migrate"]
    assert migrate["command"] == ["python", "manage.py", "migrate", "--noinput"]
    assert migrate["image"] == services[service]["image"]
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    condition = services[service]["depends_on"][f"{service}-migrate"]["condition"]
    assert condition == "service_completed_successfully"
    assert (
        migrate["environment"]["DATABASE_URL"] == services[service]["environment"]["DATABASE_URL"]
    )


def test_relay_runs_after_orders_migrations_with_orders_settings():
    services = resolved()["services"]
    relay = services["relay"]
    assert relay["command"] == ["python", "manage.py", "relay_outbox"]
    assert relay["image"] == services["orders"]["image"]
    assert relay["depends_on"]["orders-migrate"]["condition"] == "service_completed_successfully"
    for name in ("DATABASE_URL", "AMQP_URL"):
        assert relay["environment"][name] == services["orders"]["environment"][name]


def test_every_dependency_waits_on_health_or_completion():
    services = resolved()["services"]
    for name, service in services.items():
        for dependency, rule in service.get("depends_on", {}).items():
            assert rule["condition"] in ("service_healthy", "service_completed_successfully"), (
                name,
                dependency,
            )
            if rule["condition"] == "service_healthy":
                # Our images carry a HEALTHCHECK; the others name theirs here.
                target = services[dependency]
                assert "healthcheck" in target or "build" in target, dependency


def test_two_notifier_consumers_share_the_queue_in_compose_and_kubernetes():
    notifier = resolved()["services"]["notifier"]
    assert notifier["deploy"]["replicas"] == 2
    # One host port per replica: a single published port would stop the second from starting.
    [published] = notifier["ports"]
    assert (published["published"], published["target"]) == ("8003-8004", 8003)
    assert objects("Deployment")["notifier"]["spec"]["replicas"] == 2
