"""The manifests agree with the services, and docs/architecture.md with both: variables, paths,
events, error codes, ports and metrics.

What a service reads is taken from its code (django-environ calls and os.environ look-ups in its
settings, its gunicorn.conf.py and libs/common); what compose and Kubernetes give it is taken from
docker-compose.yml, the ConfigMap, the Secret template, the container's env and the image's ENV.
"""

import json
import re
from pathlib import Path
from urllib.parse import urlparse

import pytest

from .compose import resolved
from .dockerfiles import ROOT, SERVICES, final_stage
from .manifests import objects, pod_spec, secret_templates

COMMON = ROOT / "libs" / "common" / "src" / "ecomms_common"
READ = re.compile(
    r"""(?:env\.\w+\(|os\.environ\.get\(|os\.environ\[|os\.getenv\()\s*["']([A-Z][A-Z0-9_]*)["']"""
)
# Variables whose default only works on a developer's machine, whatever the code says, and the
# ones that may stand in for them.
ALWAYS_REQUIRED = {"SECRET_KEY", "DATABASE_URL", "ALLOWED_HOSTS"}
ALTERNATIVES = {
    "SECRET_KEY": {"SECRET_KEY_FILE"},
    "OIDC_OP_DISCOVERY_URL": {"OIDC_OP_AUTHORIZATION_ENDPOINT"},
    "AFRICASTALKING_BASE_URL": {"AFRICASTALKING_API_KEY"},
}
WEB_PORTS = {"catalog": 8001, "orders": 8002, "auth-gateway": 8000, "notifier": 8003}
SERVED_PATHS = {
    "/" + path for path in re.findall(r'path\("([a-z]+)"', (COMMON / "urls.py").read_text())
}
# SERVICE_COMMAND: read by the image's CMD (sh -c "exec $SERVICE_COMMAND"), not by Django.
NOT_SETTINGS = {"PATH", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE", "SERVICE_COMMAND"}


def sources(service: str) -> list[Path]:
    folder = ROOT / "services" / service
    files = [folder / "config" / "settings.py", folder / "gunicorn.conf.py"]
    files += [p for p in COMMON.rglob("*.py") if "testing" not in p.parts]
    return files


def read_variables(service: str) -> dict[str, str]:
    """Each variable the service reads, with the text of its call (default included)."""
    found: dict[str, str] = {}
    for path in sources(service):
        text = path.read_text()
        for match in READ.finditer(text):
            found[match.group(1)] = found.get(match.group(1), "") + call_at(text, match.start())
    return found


def call_at(text: str, start: int) -> str:
    """The text of the call (or subscript) starting at ``start``, up to its closing bracket."""
    depth = 0
    for index in range(start, len(text)):
        if text[index] in "([":
            depth += 1
        elif text[index] in ")]":
            depth -= 1
            if depth == 0:
                return text[start : index + 1]
    return text[start:]


def readiness_checks(service: str) -> str:
    settings = (ROOT / "services" / service / "config" / "settings.py").read_text()
    return re.search(r"READINESS_CHECKS = (\[.*\])", settings).group(1)


def required_variables(service: str) -> set[str]:
    """What a deployment must set: every variable whose default points at this machine."""
    required = set(ALWAYS_REQUIRED)
    for name, call in read_variables(service).items():
        if re.search(r"127\.0\.0\.1|localhost|LOCAL_|insecure", call):
            required.add(name)
    if "broker" not in readiness_checks(service):
        required.discard("AMQP_URL")  # read by the shared settings, used only with a broker
    if service == "auth-gateway":
        required.add("JWT_PRIVATE_KEY_FILE")
    return required


def k8s_variables(service: str, container: dict) -> dict[str, str]:
    values = dict(final_stage(service).env)
    values.update(objects("ConfigMap")[service]["data"])
    values.update(secret_templates()[service]["stringData"])
    values.update({e["name"]: e.get("value", "") for e in container.get("env", [])})
    return values


def k8s_containers(service: str) -> list[tuple[str, dict]]:
    found = []
    for name, workload in {**objects("Deployment"), **objects("Job")}.items():
        spec = pod_spec(workload)
        for container in spec["containers"] + spec.get("initContainers", []):
            if container["image"].split(":")[0] == f"ecomms/{service}":
                found.append((f"{name}/{container['name']}", container))
    assert found
    return found


def compose_services(service: str) -> list[str]:
    return [
        name
        for name, spec in resolved()["services"].items()
        if spec.get("image", "").split(":")[0] == f"ecomms/{service}"
        and name not in ("sms", "secret-key")  # a stand-in, and a one-off that runs no Django
    ]


def missing(required: set[str], given: dict[str, str]) -> set[str]:
    return {
        name
        for name in required
        if name not in given and not ALTERNATIVES.get(name, set()) & given.keys()
    }


@pytest.mark.parametrize("service", SERVICES)
def test_kubernetes_gives_each_container_every_variable_its_service_needs(service):
    required = required_variables(service)
    for where, container in k8s_containers(service):
        assert not missing(required, k8s_variables(service, container)), where


@pytest.mark.parametrize("service", SERVICES)
def test_compose_gives_each_container_every_variable_its_service_needs(service):
    required = required_variables(service)
    for name in compose_services(service):
        given = {**final_stage(service).env, **resolved()["services"][name]["environment"]}
        assert not missing(required, given), name


@pytest.mark.parametrize("service", SERVICES)
def test_every_variable_set_is_one_the_service_reads(service):
    # A misspelt name would be silently ignored and the local default used.
    known = read_variables(service).keys() | NOT_SETTINGS
    for where, container in k8s_containers(service):
        assert not k8s_variables(service, container).keys() - known, where
    for name in compose_services(service):
        assert not resolved()["services"][name]["environment"].keys() - known, name


def test_the_variable_reading_is_not_vacuous():
    assert {"DATABASE_URL", "AMQP_URL", "AUTH_JWKS_URL", "PORT", "HOST"} <= read_variables(
        "orders"
    ).keys() | {"DATABASE_URL"}
    assert "CATALOG_URL" in required_variables("orders")
    assert "EMAIL_HOST" in required_variables("notifier")
    assert "AMQP_URL" not in required_variables("catalog")
    assert {"JWT_ISSUER", "CATALOG_URL", "ORDERS_URL"} <= required_variables("auth-gateway")


# --- probes ----------------------------------------------------------------------------------


def test_probe_paths_are_ones_the_service_serves():
    assert {"/healthz", "/readyz", "/metrics"} <= SERVED_PATHS
    for service in SERVICES:
        urls = (ROOT / "services" / service / "config" / "urls.py").read_text()
        assert "ops_urlpatterns" in urls.split("urlpatterns = [", 1)[1], service
    for name, deployment in objects("Deployment").items():
        for container in pod_spec(deployment)["containers"]:
            ports = {p["name"]: p["containerPort"] for p in container["ports"]}
            for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
                probe = container.get(kind, {}).get("httpGet")
                if not probe:
                    continue
                assert probe["path"] in SERVED_PATHS, (name, kind)
                if name == "relay":  # the orders app, served by the relay on its own port
                    port = next(e for e in container["env"] if e["name"].endswith("METRICS_PORT"))
                    assert ports[probe["port"]] == int(port["value"])
                else:
                    assert ports[probe["port"]] == WEB_PORTS[name], (name, kind)


def test_compose_relay_healthcheck_uses_its_metrics_port():
    relay = resolved()["services"]["relay"]
    port = relay["environment"]["OUTBOX_RELAY_METRICS_PORT"]
    assert f"127.0.0.1:{port}/healthz" in " ".join(relay["healthcheck"]["test"])


# --- ports -----------------------------------------------------------------------------------


@pytest.mark.parametrize("service", SERVICES)
def test_ports_agree_everywhere(service):
    port = WEB_PORTS[service]
    stage = final_stage(service)
    assert stage.env["PORT"] == str(port)
    assert stage.all("EXPOSE") == [str(port)]
    gunicorn = (ROOT / "services" / service / "gunicorn.conf.py").read_text()
    assert f"default_port={port}" in gunicorn
    assert objects("ConfigMap")[service]["data"]["PORT"] == str(port)
    container = pod_spec(objects("Deployment")[service])["containers"][0]
    assert [p["containerPort"] for p in container["ports"]] == [port]
    (service_port,) = objects("Service")[service]["spec"]["ports"]
    assert service_port["port"] == port
    assert service_port["targetPort"] == container["ports"][0]["name"]
    compose = resolved()["services"][service]
    assert compose["environment"]["PORT"] == str(port)
    for published in compose.get("ports", []):
        assert published["target"] == port


def test_urls_between_services_name_their_service_and_port():
    services = {name: s["spec"]["ports"][0]["port"] for name, s in objects("Service").items()}
    compose = resolved()["services"]
    given = [(f"k8s {name}", data) for name, data in _configmaps().items()]
    given += [(f"compose {name}", spec.get("environment", {})) for name, spec in compose.items()]
    checked = 0
    for where, values in given:
        for variable in ("CATALOG_URL", "ORDERS_URL", "AUTH_JWKS_URL"):
            if variable not in values:
                continue
            url = urlparse(values[variable])
            assert url.hostname in services, (where, variable)
            assert url.port == services[url.hostname], (where, variable)
            checked += 1
    assert checked >= 10


def _configmaps() -> dict[str, dict]:
    return {name: cm["data"] for name, cm in objects("ConfigMap").items() if name in SERVICES}


def test_ingress_targets_the_gateway_port():
    (ingress,) = objects("Ingress").values()
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert (
        backend["port"]["number"] == objects("Service")["auth-gateway"]["spec"]["ports"][0]["port"]
    )


def test_issuer_the_gateway_writes_is_the_one_services_check():
    for source, env_of in (
        ("k8s", {name: data for name, data in _configmaps().items()}),
        ("compose", {s: resolved()["services"][s]["environment"] for s in SERVICES}),
    ):
        issuer = env_of["auth-gateway"]["JWT_ISSUER"]
        audience = env_of["auth-gateway"]["JWT_AUDIENCE"]
        for service in SERVICES:
            assert env_of[service]["AUTH_ISSUER"] == issuer, (source, service)
            assert env_of[service]["AUTH_AUDIENCE"] == audience, (source, service)


def test_gateway_signing_key_file_is_where_the_secret_is_mounted():
    path = Path(objects("ConfigMap")["auth-gateway"]["data"]["JWT_PRIVATE_KEY_FILE"])
    spec = pod_spec(objects("Deployment")["auth-gateway"])
    web = spec["containers"][0]
    mount = next(m for m in web["volumeMounts"] if m["mountPath"] == str(path.parent))
    volume = next(v for v in spec["volumes"] if v["name"] == mount["name"])
    secret = secret_templates()[volume["secret"]["secretName"]]
    assert path.name in secret["stringData"]
    compose = resolved()["services"]["auth-gateway"]
    assert compose["environment"]["JWT_PRIVATE_KEY_FILE"] == str(path)
    assert any(v["target"] == str(path.parent) for v in compose["volumes"])


def test_compose_secret_key_file_is_the_one_the_one_off_writes():
    services = resolved()["services"]
    one_off = services["secret-key"]
    [written] = [v for v in one_off["volumes"] if v["type"] == "volume"]
    key_file = Path(services["catalog"]["environment"]["SECRET_KEY_FILE"])
    assert f"{written['target']}/{key_file.name}" in one_off["command"][-1]
    checked = 0
    for service in SERVICES:
        for name in compose_services(service):
            spec = services[name]
            assert spec["environment"]["SECRET_KEY_FILE"] == str(key_file), name
            mount = next(v for v in spec["volumes"] if v["target"] == str(key_file.parent))
            assert (mount["source"], mount.get("read_only")) == (written["source"], True), name
            assert spec["depends_on"].keys() & {"secret-key", f"{service}-migrate"}, name
            checked += 1
    assert checked >= 10


# --- commands --------------------------------------------------------------------------------

DJANGO_COMMANDS = {"migrate"}


def management_commands(service: str) -> set[str]:
    folders = [ROOT / "services" / service, COMMON]
    return DJANGO_COMMANDS | {
        path.stem
        for folder in folders
        for path in folder.rglob("management/commands/*.py")
        if not path.stem.startswith("_")
    }


def commands_run() -> list[tuple[str, str, list[str]]]:
    """(where, service, command) for every command compose and k8s run from our images."""
    found = []
    for name, spec in resolved()["services"].items():
        image = spec.get("image", "").split(":")[0]
        if image.startswith("ecomms/") and spec.get("command"):
            found.append((f"compose {name}", image.removeprefix("ecomms/"), spec["command"]))
    for name, workload in {**objects("Deployment"), **objects("Job")}.items():
        spec = pod_spec(workload)
        for container in spec["containers"] + spec.get("initContainers", []):
            image = container["image"].split(":")[0]
            if image.startswith("ecomms/") and container.get("command"):
                service = image.removeprefix("ecomms/")
                found.append((f"k8s {name}/{container['name']}", service, container["command"]))
    return found


def test_every_management_command_run_exists_in_its_image():
    checked = 0
    for where, service, command in commands_run():
        if service not in SERVICES:
            continue
        words = command if command[0] != "sh" else command[-1].split()
        if "manage.py" in words:
            name = words[words.index("manage.py") + 1]
            assert name in management_commands(service), (where, name)
            checked += 1
    assert checked >= 12


def test_compose_allowed_hosts_admit_the_healthcheck_and_the_callers():
    for service in SERVICES:
        hosts = resolved()["services"][service]["environment"]["ALLOWED_HOSTS"].split(",")
        if hosts == ["*"]:  # the notifier: Prometheus scrapes each replica by its address
            continue
        assert "127.0.0.1" in hosts, service  # the image's HEALTHCHECK
        assert service in hosts, service  # other containers call http://<service>:<port>
    assert "localhost" in resolved()["services"]["auth-gateway"]["environment"]["ALLOWED_HOSTS"]


def test_services_behind_the_gateway_trust_it_and_admit_its_public_host():
    # The gateway forwards its public host as X-Forwarded-Host; a service that believes it must
    # also allow it, or every proxied call is a 400.
    public_host = urlparse(resolved()["services"]["auth-gateway"]["environment"]["JWT_ISSUER"])
    for service in ("catalog", "orders"):
        environment = resolved()["services"][service]["environment"]
        assert public_host.hostname in environment["ALLOWED_HOSTS"].split(","), service
        assert environment["TRUSTED_PROXY_NETWORKS"], service
        for container in (c for _, c in k8s_containers(service)):
            values = k8s_variables(service, container)
            assert values["ALLOWED_HOSTS"] == "*" or "ecomms.local" in values["ALLOWED_HOSTS"]
            assert values["TRUSTED_PROXY_NETWORKS"], service


# --- Secrets ---------------------------------------------------------------------------------


def test_secret_template_urls_name_the_stateful_services_and_databases():
    services = {name: s["spec"]["ports"] for name, s in objects("Service").items()}
    init_script = objects("ConfigMap")["postgres-init"]["data"]["10-databases.sh"]
    for service in SERVICES:
        data = secret_templates()[service]["stringData"]
        database = urlparse(data["DATABASE_URL"])
        assert database.port in [p["port"] for p in services[database.hostname]]
        assert re.search(rf"for database in .*\b{database.path.lstrip('/')}\b", init_script)
        if "AMQP_URL" in data:
            broker = urlparse(data["AMQP_URL"])
            assert broker.port in [p["port"] for p in services[broker.hostname]]


def test_k8s_secrets_script_creates_every_template_with_its_keys():
    script = (ROOT / "scripts" / "k8s-secrets").read_text().replace("\\\n", " ")
    created = {}
    for line in script.splitlines():
        match = re.search(r"create secret generic ([a-z-]+)", line)
        if match:
            keys = re.findall(r"--from-(?:literal|file)=([A-Za-z_.-]+)=", line)
            created[match.group(1)] = set(keys)
    templates = secret_templates()
    assert created.keys() == templates.keys()
    for name, keys in created.items():
        assert keys == templates[name]["stringData"].keys(), name


# --- the contract page -----------------------------------------------------------------------
# docs/architecture.md is the one description of the services: every variable a service reads,
# path it serves, event it publishes, error code it answers, port and metric is named there, and
# what it names exists.

CONTRACT = (ROOT / "docs" / "architecture.md").read_text()
CODE_SPANS = set(re.findall(r"`([^`\n]+)`", CONTRACT))
# A family documented as one: `OIDC_*`, `EMAIL_*`.
FAMILIES = tuple(span[:-1] for span in CODE_SPANS if re.fullmatch(r"[A-Z][A-Z0-9_]*_\*", span))


def production_code() -> list[Path]:
    """The services' and libs/common's Python, without tests, test helpers and migrations."""
    files = [*(ROOT / "services").glob("*/**/*.py"), *COMMON.rglob("*.py")]
    skipped = {"tests", "testing", "migrations", ".venv"}
    return [path for path in files if not skipped & set(path.relative_to(ROOT).parts)]


def found_in_code(pattern: str) -> set[str]:
    """Every match of ``pattern``'s group in the production code."""
    return {name for path in production_code() for name in re.findall(pattern, path.read_text())}


def documented(name: str) -> bool:
    return name in CODE_SPANS or name.startswith(FAMILIES)


def undocumented(names: set[str]) -> list[str]:
    return sorted(name for name in names if not documented(name))


def test_the_contract_names_every_variable_a_service_reads():
    read = {name for service in SERVICES for name in read_variables(service)} - NOT_SETTINGS
    assert "CATALOG_DEADLINE_SECONDS" in read and "GUNICORN_THREADS" in read
    assert not undocumented(read)


def test_every_variable_the_contract_names_exists():
    # Code spans written like a variable; each must be read, set or at least named by the
    # project's code, manifests or scripts (a variable renamed in code leaves its old name here).
    named = {span for span in CODE_SPANS if re.fullmatch(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+", span)}
    places = [*production_code(), ROOT / "docker-compose.yml", ROOT / "Makefile"]
    places += [p for p in (ROOT / "scripts").iterdir() if p.is_file()]
    places += [p for p in (ROOT / "k8s").rglob("*") if p.is_file()]
    text = "\n".join(path.read_text(errors="replace") for path in places)
    assert len(named) > 50
    assert sorted(name for name in named if not re.search(rf"\b{name}\b", text)) == []


def _route(path: str) -> str:
    """A path as the contract writes it, every parameter alike: /orders/{}/pay/."""
    return "/" + re.sub(r"<[^>]+>|\{[^}]+\}", "{}", path.lstrip("/"))


ROUTE = re.compile(r'(?:operations_path|path)\(\s*"([^"]*)",\s*\[?([\w.]+)')


def served_paths() -> tuple[set[str], set[str]]:
    """(every path the services route, the prefixes they hand to another app's URLs)."""
    routes, prefixes = set(), set()
    files = [COMMON / "urls.py", *(p for p in production_code() if p.name == "urls.py")]
    for path in files:
        for match in ROUTE.finditer(path.read_text()):
            route, target = _route(match.group(1)), match.group(2)
            if route == "/":
                continue
            (prefixes if target == "include" else routes).add(route)
    return routes, prefixes


def contract_paths() -> set[str]:
    methods = r"(?:GET|POST|PUT|PATCH|DELETE)"
    return {
        _route(path)
        for span in CODE_SPANS
        for path in re.findall(rf"^{methods}(?:\|{methods})* (/[^\s?]*)", span)
    }


def test_the_contract_names_every_path_a_service_serves():
    routes, _ = served_paths()
    assert {"/orders/{}/pay/", "/customers/me/", "/healthz", "/.well-known/jwks.json"} <= routes
    assert sorted(routes - contract_paths()) == []


def test_every_path_the_contract_names_is_served():
    routes, prefixes = served_paths()
    named = contract_paths()
    assert len(named) > 20
    assert sorted(p for p in named - routes if not p.startswith(tuple(prefixes))) == []


CONTRACTS = sorted((ROOT / "services" / "orders" / "contracts").glob("*.json"))


def _payload_fields(data: dict) -> set[str]:
    fields = set()
    for name, value in data.items():
        fields.add(name)
        if isinstance(value, list) and value and isinstance(value[0], dict):
            value = value[0]
        if isinstance(value, dict):
            fields |= value.keys()
    return fields


@pytest.mark.parametrize("example", CONTRACTS, ids=lambda path: path.stem)
def test_the_contract_describes_every_event_with_its_version_and_payload(example):
    event = json.loads(example.read_text())
    routing_key = f"{event['event_type']}.v{event['event_version']}"
    assert example.stem == routing_key
    heading = f"| `{event['event_type']}` v{event['event_version']} | `{routing_key}` |"
    row = re.search(rf"^{re.escape(heading)}(.*)$", CONTRACT, re.MULTILINE)
    assert row, f"no row for {routing_key} in the contract's events table"
    described = row.group(1)
    if described.strip().startswith("as `"):  # "as `order.cancelled`": the same payload
        other = re.search(r"as `([a-z_.]+)`", described).group(1)
        described = re.search(rf"^\| `{re.escape(other)}` v\d+ \|.*$", CONTRACT, re.M).group(0)
    fields = set(re.findall(r"`([a-z_]+)`", described))
    assert sorted(_payload_fields(event["data"]) - fields) == []


def test_every_routing_key_the_contract_or_the_notifier_names_has_its_example():
    examples = {path.stem for path in CONTRACTS}
    named = {span for span in CODE_SPANS if re.fullmatch(r"[a-z_]+\.[a-z_]+\.v\d+", span)}
    settings = (ROOT / "services" / "notifier" / "config" / "settings.py").read_text()
    bound = set(re.findall(r'"([a-z_]+\.[a-z_]+\.v\d+)"', settings))
    assert bound and named
    assert sorted((named | bound) - examples) == []


def test_the_contract_names_every_error_code():
    codes = found_in_code(r'default_code = "([a-z_]+)"')
    assert {"database_unavailable", "illegal_transition", "idempotency_key_reused"} <= codes
    assert sorted(code for code in codes if code not in CODE_SPANS) == []


def test_every_error_code_the_contract_names_is_answered_somewhere():
    # The first cell of each row of the errors table: "| 422 `unknown_products`, `other` |"
    cells = re.findall(r"^\| (\d{3} `[^|]*)\|", CONTRACT, re.MULTILINE)
    named = {code for cell in cells for code in re.findall(r"`([a-z_]+)`", cell)}
    text = "\n".join(path.read_text() for path in production_code())
    assert len(named) > 20
    assert sorted(code for code in named if f'"{code}"' not in text) == []


def published_ports() -> dict[int, set[str]]:
    """Each port compose publishes or a Kubernetes Service serves, with who serves it."""
    ports: dict[int, set[str]] = {}
    for name, spec in resolved()["services"].items():
        for published in spec.get("ports", []):
            ports.setdefault(int(published["target"]), set()).add(name)
    for name, service in objects("Service").items():
        for port in service["spec"]["ports"]:
            ports.setdefault(int(port["port"]), set()).add(name)
    return ports


def contract_port_rows() -> dict[int, str]:
    section = CONTRACT.split("\n## Ports\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for row in re.findall(r"^\| ([\d, ]+) \|(.*)$", section, re.MULTILINE):
        for port in re.findall(r"\d+", row[0]):
            rows[int(port)] = row[1]
    return rows


def test_the_contract_names_every_port_and_who_serves_it():
    rows = contract_port_rows()
    ports = published_ports()
    for service, port in WEB_PORTS.items():
        ports.setdefault(port, set()).add(service)
    for port, services in ports.items():
        assert port in rows, port
        for service in services:
            assert f"`{service}`" in rows[port], (port, service)


def test_every_port_the_contract_names_is_used():
    places = [ROOT / "docker-compose.yml", ROOT / "Makefile", *(ROOT / "scripts").iterdir()]
    places += [p for p in (ROOT / "k8s").rglob("*") if p.is_file()]
    places += [*(ROOT / "services").glob("*/config/settings.py"), COMMON / "base_settings.py"]
    text = "\n".join(path.read_text(errors="replace") for path in places if path.is_file())
    rows = contract_port_rows()
    assert len(rows) > 10
    assert sorted(port for port in rows if not re.search(rf"\b{port}\b", text)) == []


def test_the_contract_names_every_metric_of_our_own():
    kinds = r"(?:Counter|Histogram|Gauge|Summary|GaugeMetricFamily|CounterMetricFamily)"
    names = found_in_code(rf'{kinds}\(\s*"([a-z_]+)"')
    assert {"gateway_proxied_requests_total", "gateway_proxied_request_duration_seconds"} <= names
    # prometheus_client adds _total to a counter's name
    assert sorted(n for n in names if n not in CODE_SPANS and f"{n}_total" not in CODE_SPANS) == []
