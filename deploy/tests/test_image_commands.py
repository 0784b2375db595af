"""Each image's command exists and starts with the image's environment.

No Docker engine here: the command named by the Dockerfile's CMD runs from the service's folder
(the image's WORKDIR /app holds exactly that folder) inside the service's own venv, with the
Dockerfile's ENV, after the image's build step (collectstatic) and the migration Job's command
(migrate) ran against a throwaway PostgreSQL database. Only what cannot be the same on a shared
machine is replaced: the address (127.0.0.1, a free port), the database, RabbitMQ names and paths
under /tmp.
"""

import contextlib
import os
import secrets
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from .compose import resolved
from .conftest import free_port
from .dockerfiles import LOCAL_SERVERS, ROOT, SERVICES, final_stage, service_stages, stages
from .manifests import objects, pod_spec

STARTUP_SECONDS = 60
WEB_SERVICES = {"catalog", "orders", "auth-gateway"}
STATIC_ASSET = "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui.css"


def get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def run(args, *, cwd, env) -> None:
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"{args} failed:\n{result.stdout}{result.stderr}"


def prepared_image(service: str, tmp_path: Path, database: str, amqp_names: dict) -> dict:
    """The image's environment, after its build step and its migration Job ran."""
    stage = final_stage(service)
    builder = next(s for s in service_stages(service) if s.name == "builder")
    assert f"services/{service} /app" in builder.all("COPY")
    assert stage.workdir == "/app"
    folder = ROOT / "services" / service
    venv_bin = ROOT / ".venvs" / service / "bin"

    env = {name: os.environ[name] for name in ("LANG", "LC_ALL") if name in os.environ}
    env.update(stage.env)
    env["PATH"] = f"{venv_bin}:/usr/local/bin:/usr/bin:/bin"
    env.update(
        HOST="127.0.0.1",
        PORT=str(free_port()),
        DATABASE_URL=database,
        AMQP_URL="amqp://guest:guest@127.0.0.1:5672/",
        STATIC_ROOT=str(tmp_path / "staticfiles"),
        # What the deployment's Secret gives (DEBUG is off: a strong key is required).
        SECRET_KEY=secrets.token_urlsafe(50),
        **amqp_names,
    )
    if service == "auth-gateway":  # the signing key: a mounted Secret (compose, k8s)
        key = tmp_path / "jwt-private.pem"
        run([venv_bin / "python", "manage.py", "generate_signing_key", key], cwd=folder, env=env)
        env["JWT_PRIVATE_KEY_FILE"] = str(key)
    # The build step as the Dockerfile writes it (its first command), with the build's
    # environment: no SECRET_KEY but the one the step makes for itself.
    (collect,) = [step for step in builder.all("RUN") if "collectstatic" in step]
    collect = collect.split("&&")[0].replace("/app/staticfiles", env["STATIC_ROOT"])
    build_env = {name: value for name, value in env.items() if name != "SECRET_KEY"}
    run(["sh", "-c", collect], cwd=folder, env=build_env)
    run([venv_bin / "python", "manage.py", "migrate", "--noinput"], cwd=folder, env=env)
    return env


@contextlib.contextmanager
def running(command: list[str], *, cwd: Path, env: dict, log: Path, ready_url: str):
    """Run ``command`` from ``cwd`` until ``ready_url`` answers 200; stop it after."""
    with log.open("w") as output:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if process.poll() is not None:
                pytest.fail(f"{command} exited with {process.returncode}:\n{log.read_text()}")
            with contextlib.suppress(OSError):
                if get(ready_url) == 200:
                    break
            if time.monotonic() > deadline:
                pytest.fail(f"no 200 from {ready_url} in {STARTUP_SECONDS}s:\n{log.read_text()}")
            time.sleep(0.3)
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode in (0, -signal.SIGTERM), log.read_text()


@pytest.mark.parametrize("service", SERVICES)
def test_image_command_starts_and_serves_its_probes(
    service, tmp_path, throwaway_database, amqp_names
):
    env = prepared_image(service, tmp_path, throwaway_database, amqp_names)
    if service in WEB_SERVICES:  # as compose and k8s run the web process
        env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path / "prometheus")
    base = f"http://127.0.0.1:{env['PORT']}"
    log = tmp_path / "process.log"
    command = final_stage(service).cmd
    with running(
        command, cwd=ROOT / "services" / service, env=env, log=log, ready_url=f"{base}/healthz"
    ):
        assert get(f"{base}/readyz") == 200, log.read_text()
        assert get(f"{base}/metrics") == 200, log.read_text()
        if service in WEB_SERVICES:
            # Collected at build time, served by WhiteNoise without the finders.
            assert get(f"{base}{STATIC_ASSET}") == 200, log.read_text()


def test_relay_command_starts_from_the_orders_image(tmp_path, throwaway_database, amqp_names):
    relay = pod_spec(objects("Deployment")["relay"])["containers"][0]
    assert relay["image"].split(":")[0] == "ecomms/orders"
    assert resolved()["services"]["relay"]["command"] == relay["command"]
    env = prepared_image("orders", tmp_path, throwaway_database, amqp_names)
    # With the image's environment alone (plain `docker run`), on the image's PORT: what the image's
    # HEALTHCHECK calls. Compose and k8s give it a port of its own (OUTBOX_RELAY_METRICS_PORT).
    base = f"http://127.0.0.1:{env['PORT']}"
    log = tmp_path / "relay.log"
    with running(
        relay["command"],
        cwd=ROOT / "services" / "orders",
        env=env,
        log=log,
        ready_url=f"{base}/healthz",
    ):
        assert get(f"{base}/readyz") == 200, log.read_text()
        assert get(f"{base}/metrics") == 200, log.read_text()


# What the local servers' image installs, as scripts/check builds it (.venvs/local-servers).
LOCAL_SERVERS_ENV = {"PATH": f"{ROOT / '.venvs' / 'local-servers' / 'bin'}:/usr/bin:/bin"}


def test_oidc_provider_command_starts_from_the_local_servers_image(tmp_path):
    """The compose-only image's default command (deploy/docker/local-servers.Dockerfile)."""
    (stage,) = stages(LOCAL_SERVERS)
    assert ROOT / resolved()["services"]["oidc"]["build"]["dockerfile"] == LOCAL_SERVERS
    assert "-r /build/requirements-dev.txt" in " ".join(stage.all("RUN"))
    copies = dict(reversed(args.split()) for args in stage.all("COPY"))
    port = free_port()
    command = [copies.get(arg, arg) for arg in stage.cmd]  # image paths -> repository paths
    command[command.index("--port") + 1] = str(port)
    command[command.index("--host") + 1] = "127.0.0.1"
    assert (ROOT / command[command.index("--user-claims-file") + 1]).is_file()
    healthcheck = stage.all("HEALTHCHECK")[-1]
    path = healthcheck.split("http://127.0.0.1:9400", 1)[1].split("'", 1)[0]
    log = tmp_path / "oidc.log"
    url = f"http://127.0.0.1:{port}{path}"
    with running(command, cwd=ROOT, env=LOCAL_SERVERS_ENV, log=log, ready_url=url):
        pass


def test_sms_standin_command_starts_from_the_local_servers_image(tmp_path):
    """Compose's ``sms``: the SMS stand-in of libs/standins, from the local servers' image."""
    (stage,) = stages(LOCAL_SERVERS)
    sms = resolved()["services"]["sms"]
    assert ROOT / sms["build"]["dockerfile"] == LOCAL_SERVERS
    assert "/build/libs/standins" in " ".join(stage.all("RUN"))
    command = list(sms["command"])
    port = free_port()
    command[command.index("--port") + 1] = str(port)
    command[command.index("--host") + 1] = "127.0.0.1"
    log = tmp_path / "sms.log"
    url = f"http://127.0.0.1:{port}/healthz"
    with running(command, cwd=ROOT, env=LOCAL_SERVERS_ENV, log=log, ready_url=url):
        pass


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("key", [None, "insecure-local-development-key-change-me", "short-key"])
def test_image_command_exits_at_start_without_a_strong_secret_key(service, key, tmp_path):
    # The image's environment has DEBUG off (unset); a deployment that forgets SECRET_KEY, or
    # gives the published development key or a short one, gets a process that stops, saying why.
    env = dict(final_stage(service).env)
    env.update(
        PATH=f"{ROOT / '.venvs' / service / 'bin'}:/usr/bin:/bin",
        HOST="127.0.0.1",
        PORT=str(free_port()),
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/unused",
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path),
        STATIC_ROOT=str(tmp_path / "staticfiles"),
    )
    if key is not None:
        env["SECRET_KEY"] = key
    assert "DEBUG" not in env and "SECRET_KEY_FILE" not in env
    run = subprocess.run(
        final_stage(service).cmd,
        cwd=ROOT / "services" / service,
        env=env,
        capture_output=True,
        text=True,
        timeout=STARTUP_SECONDS,
        check=False,
    )
    assert run.returncode != 0
    lines = (run.stdout + run.stderr).splitlines()
    assert any(line.startswith("SECRET_KEY ") and "DEBUG is off" in line for line in lines) or any(
        "ImproperlyConfigured: SECRET_KEY " in line for line in lines
    ), run.stdout + run.stderr
