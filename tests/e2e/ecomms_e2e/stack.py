"""Start every process of the root Procfile, as ``make up`` does, on PostgreSQL and ephemeral ports.

Each run gets its own databases (``e2e_<run>_<service>``), its own RabbitMQ exchange and queue
names, a fresh gateway signing key and its own folder for logs, mail and recorded SMS; ``stop()``
stops every process and removes the databases and the RabbitMQ names again.
"""

import contextlib
import os
import secrets
import shlex
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pika
import psycopg
import requests

ROOT = Path(__file__).resolve().parents[3]
VENV_BIN = ROOT / ".venv" / "bin"
SERVICES = ROOT / "services"
# Ports other things on this machine use: never picked.
RESERVED_PORTS = {8000, 8001, 8002, 8003, 9400, 9402, 1025}
DATABASES = ("catalog", "orders", "auth-gateway", "notifier")


class StackFailed(Exception):
    pass


def database_server() -> str:
    """Where the stack creates its databases: ``TEST_DATABASE_SERVER``, or the local server."""
    return os.environ.get("TEST_DATABASE_SERVER", "postgres://postgres@127.0.0.1:5432")


def free_port() -> int:
    """A port nothing listens on now, picked by the kernel on 127.0.0.1."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in RESERVED_PORTS:
            return port


def tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return "(no output)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class Process:
    name: str
    command: list[str]
    cwd: Path
    env: dict[str, str]
    ready: Callable[[], bool]
    log: Path
    popen: subprocess.Popen | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                self.command,
                cwd=self.cwd,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: gunicorn's workers stop with it
            )

    def exited(self) -> int | None:
        return None if self.popen is None else self.popen.poll()

    def stop(self, timeout: float = 20.0) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout)


def _answers(url: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return requests.get(url, timeout=2).status_code == 200
        except requests.RequestException:
            return False

    return check


def _listens(port: int) -> Callable[[], bool]:
    def check() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2):
                return True
        except OSError:
            return False

    return check


@dataclass
class Stack:
    workdir: Path
    database_server: str = "postgres://postgres@127.0.0.1:5432"
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    run_id: str = field(default_factory=lambda: secrets.token_hex(4))
    ports: dict[str, int] = field(default_factory=dict)
    processes: list[Process] = field(default_factory=list)
    # Set on every process last (e.g. the OTEL_* variables of a traced run).
    environment: dict[str, str] = field(default_factory=dict)
    _created_databases: list[str] = field(default_factory=list)

    @property
    def gateway(self) -> str:
        return f"http://127.0.0.1:{self.ports['gateway']}"

    @property
    def sms_record(self) -> Path:
        return self.workdir / "sms.jsonl"

    @property
    def maildir(self) -> Path:
        return self.workdir / "mail"

    @property
    def logs(self) -> Path:
        return self.workdir / "logs"

    def database_url(self, service: str) -> str:
        return f"{self.database_server}/e2e_{self.run_id}_{service.replace('-', '_')}"

    def topology(self) -> dict[str, str]:
        prefix = f"e2e.{self.run_id}"
        return {
            "EVENTS_EXCHANGE": f"{prefix}.events",
            "DEAD_LETTER_EXCHANGE": f"{prefix}.dlx",
            "NOTIFIER_QUEUE": f"{prefix}.notifier.order-events",
            "NOTIFIER_DEAD_LETTER_QUEUE": f"{prefix}.notifier.order-events.dlq",
        }

    # --- starting -------------------------------------------------------------------------

    def start(self, *, ready_timeout: float = 90.0) -> "Stack":
        self.logs.mkdir(parents=True, exist_ok=True)
        for name in ("gateway", "catalog", "orders", "notifier", "relay", "oidc", "sms", "smtp"):
            self.ports.setdefault(name, free_port())  # a port given beforehand is kept
        self._create_databases()
        base = self._base_env()
        key = self.workdir / "jwt-private.pem"
        self._run_once(
            "signing key",
            [str(VENV_BIN / "python"), "manage.py", "generate_signing_key", str(key)],
            SERVICES / "auth-gateway",
            {**base, "DATABASE_URL": self.database_url("auth-gateway")},
        )
        for service in DATABASES:
            self._run_once(
                f"migrate {service}",
                [str(VENV_BIN / "python"), "manage.py", "migrate", "--noinput"],
                SERVICES / service,
                {**base, "DATABASE_URL": self.database_url(service)},
            )
        self.processes = self._processes(base, key)
        for process in self.processes:
            process.start()
        self._wait_until_ready(ready_timeout)
        return self

    def _create_databases(self) -> None:
        with psycopg.connect(f"{self.database_server}/postgres", autocommit=True) as conn:
            for service in DATABASES:
                name = self.database_url(service).rsplit("/", 1)[1]
                conn.execute(f'CREATE DATABASE "{name}"')
                self._created_databases.append(name)

    def _base_env(self) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in ("DATABASE_URL", "VIRTUAL_ENV", "PYTHONPATH", "DJANGO_SETTINGS_MODULE")
        }
        gateway = self.gateway
        oidc = f"http://127.0.0.1:{self.ports['oidc']}"
        env.update(
            {
                "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
                "PYTHONUNBUFFERED": "1",
                "HOST": "127.0.0.1",
                "ECOMMS_VAR": str(self.workdir),
                # DEBUG stays off, as in production: a key of this run's own
                "SECRET_KEY": secrets.token_urlsafe(50),
                "AMQP_URL": self.amqp_url,
                **self.topology(),
                # the gateway: its keys, its issuer, the provider, the upstream services
                "JWT_ISSUER": gateway,
                "JWT_AUDIENCE": "ecomms",
                "OIDC_OP_DISCOVERY_URL": f"{oidc}/.well-known/openid-configuration",
                "OIDC_RP_CLIENT_ID": "ecomms-local",
                "OIDC_RP_CLIENT_SECRET": "ecomms-local-secret",
                "ADMIN_EMAILS": "admin@example.com",
                # its rate limits counted apart from any other stack's on the shared Redis: a run
                # that follows another within the window starts with its own budgets
                "RATE_LIMIT_KEY_PREFIX": f"e2e.{self.run_id}.ratelimit",
                "CATALOG_URL": f"http://127.0.0.1:{self.ports['catalog']}",
                "ORDERS_URL": f"http://127.0.0.1:{self.ports['orders']}",
                # every service verifying the gateway's tokens
                "AUTH_JWKS_URL": f"{gateway}/.well-known/jwks.json",
                "AUTH_ISSUER": gateway,
                "AUTH_AUDIENCE": "ecomms",
                # the notifier's outside world: the stand-ins of this run
                "AFRICASTALKING_BASE_URL": f"http://127.0.0.1:{self.ports['sms']}",
                "EMAIL_HOST": "127.0.0.1",
                "EMAIL_PORT": str(self.ports["smtp"]),
                "ADMIN_EMAIL": "admin@example.com",
                "OUTBOX_RELAY_METRICS_HOST": "127.0.0.1",
                "OUTBOX_RELAY_METRICS_PORT": str(self.ports["relay"]),
            }
        )
        env.update(self.environment)
        return env

    def _run_once(self, what: str, command: list[str], cwd: Path, env: dict[str, str]) -> None:
        result = subprocess.run(
            command, cwd=cwd, env=env, capture_output=True, text=True, timeout=180, check=False
        )
        if result.returncode != 0:
            raise StackFailed(f"{what} failed ({result.returncode}):\n{result.stderr[-4000:]}")

    def _processes(self, base: dict[str, str], key: Path) -> list[Process]:
        """The Procfile's processes, with this run's ports, databases and folders."""
        python = str(VENV_BIN / "python")
        gunicorn = str(VENV_BIN / "gunicorn")
        port = self.ports

        def web(
            name: str,
            folder: str,
            extra: dict[str, str] | None = None,
            app: str = "config.wsgi:application",
        ) -> Process:
            env = {
                **base,
                "DATABASE_URL": self.database_url(folder),
                "PORT": str(port[name]),
                "PROMETHEUS_MULTIPROC_DIR": str(self.workdir / "prometheus" / name),
                **(extra or {}),
            }
            return Process(
                name,
                [gunicorn, app],
                SERVICES / folder,
                env,
                _answers(f"http://127.0.0.1:{port[name]}/healthz"),
                self.logs / f"{name}.log",
            )

        notifier_env = {**base, "DATABASE_URL": self.database_url("notifier")}
        orders_env = {**base, "DATABASE_URL": self.database_url("orders")}
        return [
            Process(
                "oidc",
                [
                    str(VENV_BIN / "oidc-provider-mock"),
                    *("--host", "127.0.0.1", "--port", str(port["oidc"])),
                    "--require-nonce",
                    *("--user-claims-file", "services/auth-gateway/local-oidc-users.json"),
                ],
                ROOT,
                base,
                _answers(f"http://127.0.0.1:{port['oidc']}/.well-known/openid-configuration"),
                self.logs / "oidc.log",
            ),
            Process(
                "sms",
                [
                    str(VENV_BIN / "ecomms-sms-standin"),
                    *("--port", str(port["sms"])),
                    *("--record", str(self.sms_record)),
                ],
                ROOT,
                base,
                _listens(port["sms"]),
                self.logs / "sms.log",
            ),
            Process(
                "smtp",
                [
                    str(VENV_BIN / "ecomms-smtp-sink"),
                    *("--port", str(port["smtp"])),
                    *("--maildir", str(self.maildir)),
                ],
                ROOT,
                base,
                _listens(port["smtp"]),
                self.logs / "smtp.log",
            ),
            web(
                "gateway",
                "auth-gateway",
                {"JWT_PRIVATE_KEY_FILE": str(key)},
                app="config.asgi:application",  # the edge (gunicorn.conf.py's uvicorn worker)
            ),
            web("catalog", "catalog"),
            web("orders", "orders"),
            Process(
                "relay",
                [python, "manage.py", "relay_outbox"],
                SERVICES / "orders",
                orders_env,
                _answers(f"http://127.0.0.1:{port['relay']}/metrics"),
                self.logs / "relay.log",
            ),
            Process(
                "notifier",
                [python, "manage.py", "consume"],
                SERVICES / "notifier",
                {**notifier_env, "PORT": str(port["notifier"])},
                _answers(f"http://127.0.0.1:{port['notifier']}/readyz"),
                self.logs / "notifier.log",
            ),
        ]

    def _wait_until_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        waiting = list(self.processes)
        while waiting:
            for process in list(waiting):
                if process.exited() is not None:
                    raise StackFailed(self.report(process, f"exited with {process.exited()}"))
                if process.ready():
                    waiting.remove(process)
            if waiting and time.monotonic() > deadline:
                raise StackFailed(
                    "\n\n".join(self.report(p, f"not ready after {timeout:.0f} s") for p in waiting)
                )
            time.sleep(0.2)

    def report(self, process: Process, what: str) -> str:
        command = shlex.join(process.command)
        return f"{process.name} ({command}) {what}; its log ends:\n{tail(process.log)}"

    def dead(self) -> list[str]:
        """Reports of every process that exited while it should be running."""
        return [self.report(p, f"exited with {p.exited()}") for p in self.processes if p.exited()]

    # --- stopping -------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop every process, then drop this run's databases and RabbitMQ names."""
        for process in self.processes:
            if process.popen is not None and process.popen.poll() is None:
                os.killpg(process.popen.pid, signal.SIGTERM)
        for process in self.processes:
            process.stop()
        self._delete_topology()
        self._drop_databases()

    def _delete_topology(self) -> None:
        names = self.topology()
        try:
            connection = pika.BlockingConnection(pika.URLParameters(self.amqp_url))
        except pika.exceptions.AMQPError:
            return
        with connection:
            channel = connection.channel()
            for queue in ("NOTIFIER_QUEUE", "NOTIFIER_DEAD_LETTER_QUEUE"):
                channel.queue_delete(names[queue])
            for exchange in ("EVENTS_EXCHANGE", "DEAD_LETTER_EXCHANGE"):
                channel.exchange_delete(names[exchange])

    def _drop_databases(self) -> None:
        with psycopg.connect(f"{self.database_server}/postgres", autocommit=True) as conn:
            for name in self._created_databases:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._created_databases.clear()


@contextlib.contextmanager
def running[S: Stack](stack: S) -> Iterator[S]:
    """Start ``stack`` and stop it afterwards, whatever happened; print the processes that died."""
    try:
        stack.start()
        yield stack
    finally:
        dead = stack.dead()
        stack.stop()
        if dead:
            print("\n\n".join(dead))
