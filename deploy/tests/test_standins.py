"""Stand-ins are tools, not product: no image installs libs/standins, and no production module
serves a protocol of its own the way a stand-in does.

Production code is libs/common/src and each service's app (services/<service>/<app>/, without
tests/): what an image holds. A module there counts as a stand-in server when it imports a
server library (http.server, socketserver, wsgiref's server, aiosmtpd), opens a listening socket,
defines a class of ecomms_standins by name, or imports ecomms_standins (the test helpers of
ecomms_common.testing may: no production module imports them). The one server that production
code runs, the probes' thread of the background processes (ecomms_common.ops_server), serves the
service's own Django app and is named here with the reason.
"""

import ast
from pathlib import Path

import pytest

from .dockerfiles import ROOT, SERVICES, service_stages

STANDINS = ROOT / "libs" / "standins" / "src" / "ecomms_standins"
STANDIN_NAMES = ("ecomms-standins", "ecomms_standins", "libs/standins", "aiosmtpd")
SERVER_MODULES = ("http.server", "socketserver", "wsgiref.simple_server", "aiosmtpd", "smtpd")
LISTENING_CALLS = ("create_server", "start_server", "serve_forever", "listen")
# Serves the service's own Django app (its /healthz, /readyz, /metrics): no stand-in.
SERVES_OWN_DJANGO_APP = {ROOT / "libs/common/src/ecomms_common/ops_server.py"}
TEST_HELPERS = ROOT / "libs/common/src/ecomms_common/testing"


def production_modules() -> list[Path]:
    apps = [
        path
        for service in SERVICES
        for path in (ROOT / "services" / service).iterdir()
        if (path / "apps.py").is_file()
    ]
    roots = [ROOT / "libs" / "common" / "src", *apps]
    return sorted(
        path
        for root in roots
        for path in root.rglob("*.py")
        if "tests" not in path.relative_to(root).parts
    )


def standin_class_names() -> set[str]:
    return {
        node.name
        for path in STANDINS.glob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ClassDef) and not node.name.startswith("_")
    }


def imported_modules(path: Path) -> list[str]:
    modules = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            modules.append(node.module or "")
    return modules


def server_traits(path: Path, class_names: set[str]) -> list[str]:
    """What makes the module at ``path`` look like a stand-in server (empty: nothing)."""
    helper = path.is_relative_to(TEST_HELPERS)
    traits = [
        f"imports {module}"
        for module in imported_modules(path)
        if module.startswith(SERVER_MODULES)
        or (module.startswith("ecomms_standins") and not helper)
    ]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute | ast.Name):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
            if name in LISTENING_CALLS:
                traits.append(f"calls {name}()")
        if isinstance(node, ast.ClassDef) and node.name in class_names:
            traits.append(f"defines {node.name}, a class of ecomms_standins")
    return traits


def test_the_check_recognises_every_stand_in_server():
    # Each server module of the package would be refused if it were production code.
    class_names = standin_class_names()
    servers = ["sms", "smtp", "catalog", "otlp", "tcpproxy", "jwks"]
    assert {path.stem for path in STANDINS.glob("*.py")} >= set(servers)
    for name in servers:
        assert server_traits(STANDINS / f"{name}.py", class_names), name


def test_no_production_module_is_a_stand_in_server():
    class_names = standin_class_names()
    modules = production_modules()
    assert ROOT / "libs/common/src/ecomms_common/outbox/relay.py" in modules
    assert ROOT / "services/notifier/notifier/services.py" in modules
    found = {
        str(path.relative_to(ROOT)): traits
        for path in modules
        if path not in SERVES_OWN_DJANGO_APP and (traits := server_traits(path, class_names))
    }
    assert found == {}, "stand-in servers belong in libs/standins"


def test_no_production_module_imports_the_test_helpers():
    importers = [
        str(path.relative_to(ROOT))
        for path in production_modules()
        if not path.is_relative_to(TEST_HELPERS)
        and any(module.startswith("ecomms_common.testing") for module in imported_modules(path))
    ]
    assert importers == []


def test_the_probes_server_serves_the_services_own_django_app():
    (ops_server,) = SERVES_OWN_DJANGO_APP
    assert "get_wsgi_application()" in ops_server.read_text()


@pytest.mark.parametrize("service", SERVICES)
def test_no_image_installs_the_stand_ins(service):
    requirements = (ROOT / "services" / service / "requirements.txt").read_text().lower()
    copied = " ".join(
        args
        for stage in service_stages(service)
        for kw, args in stage.instructions
        if kw in ("COPY", "ADD", "RUN")
    ).lower()
    for name in STANDIN_NAMES:
        assert name not in requirements, f"services/{service}/requirements.txt names {name}"
        assert name not in copied, f"the {service} image's recipe names {name}"
