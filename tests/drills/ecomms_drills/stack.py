"""The end-to-end stack with handles for faults from outside the services.

Everything runs as in ``ecomms_e2e.stack.Stack`` (the Procfile's commands, PostgreSQL, RabbitMQ,
names of this run), except that:

- the relay and the notifier reach RabbitMQ, and orders (web and relay) and the notifier each
  reach PostgreSQL, through TCP proxies in this process (``ecomms_standins.tcpproxy``).
  Cutting the RabbitMQ proxy is how a drill restarts "the broker": every connection of this
  stack drops and new ones are refused until it is restored, while the machine's shared
  RabbitMQ, which other people and test runs use, keeps running. What a durable quorum queue
  holds survives a real restart, and here it stays in the real broker, so the clients see what
  they see in a restart. Cutting a PostgreSQL proxy drops that service's connections the same way;
- the SMS stand-in and the SMTP sink run in this process (``ecomms_drills.outside``), so a drill
  can make them fail;
- retry pauses are shortened by the services' own settings, so that a drill lasts seconds.
"""

import os
import signal
import time
from dataclasses import dataclass, field
from typing import Any

import psycopg
from ecomms_e2e.stack import Process, Stack, StackFailed, free_port

from ecomms_drills.outside import OutsideWorld
from ecomms_standins.tcpproxy import TcpProxy

# Settings every process of a drill stack gets: pauses of seconds instead of minutes.
QUICK_RETRIES = {
    "CATALOG_BREAKER_RESET_SECONDS": "3",
    "OUTBOX_RETRY_MAX_SECONDS": "2",
    "NOTIFIER_RETRY_BASE_SECONDS": "1",
    "NOTIFIER_RETRY_MAX_SECONDS": "2",
    "NOTIFIER_RETRY_POLL_SECONDS": "0.5",
    # A delivery in flight when its consumer was killed goes out again after this; longer than
    # any drill holds a provider's answer.
    "NOTIFIER_DELIVERY_LEASE_SECONDS": "15",
    "JWT_ACCESS_TTL_SECONDS": "1800",
}
STANDINS = ("sms", "smtp")


@dataclass
class DrillStack(Stack):
    outside: OutsideWorld | None = None
    proxies: dict[str, Any] = field(default_factory=dict)

    def start(self, *, ready_timeout: float = 90.0) -> "DrillStack":
        self.proxies = {
            "rabbitmq": TcpProxy("127.0.0.1", 5672),
            "orders-postgresql": TcpProxy("127.0.0.1", 5432),
            "notifier-postgresql": TcpProxy("127.0.0.1", 5432),
        }
        self.ports["sms"], self.ports["smtp"] = free_port(), free_port()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.outside = OutsideWorld(
            sms_port=self.ports["sms"], smtp_port=self.ports["smtp"], workdir=self.workdir
        ).start()
        super().start(ready_timeout=ready_timeout)
        return self

    def stop(self) -> None:
        for proxy in self.proxies.values():
            proxy.restore()
        for process in self.processes:  # a stopped process would not see SIGTERM
            if process.exited() is None:
                os.killpg(process.popen.pid, signal.SIGCONT)
        super().stop()
        for proxy in self.proxies.values():
            proxy.close()
        if self.outside is not None:
            self.outside.stop()

    def _proxied_url(self, service: str, proxy: str) -> str:
        scheme, rest = self.database_url(service).split("://", 1)
        credentials, path = rest.split("@", 1)[0], rest.split("/", 1)[1]
        return f"{scheme}://{credentials}@127.0.0.1:{self.proxies[proxy].port}/{path}"

    def _processes(self, base: dict[str, str], key) -> list[Process]:
        amqp = f"amqp://guest:guest@127.0.0.1:{self.proxies['rabbitmq'].port}/"
        orders_db = self._proxied_url("orders", "orders-postgresql")
        overrides = {
            "orders": {"DATABASE_URL": orders_db},
            "relay": {"DATABASE_URL": orders_db, "AMQP_URL": amqp},
            "notifier": {
                "DATABASE_URL": self._proxied_url("notifier", "notifier-postgresql"),
                "AMQP_URL": amqp,
            },
        }
        processes = [p for p in super()._processes(base, key) if p.name not in STANDINS]
        for process in processes:
            process.env.update(QUICK_RETRIES)
            process.env.update(overrides.get(process.name, {}))
        return processes

    # --- faults ---------------------------------------------------------------------------

    def process(self, name: str) -> Process:
        return next(p for p in self.processes if p.name == name)

    def signal(self, name: str, signum: signal.Signals) -> None:
        """Send ``signum`` to the process and its children (gunicorn's workers)."""
        os.killpg(self.process(name).popen.pid, signum)

    def kill(self, name: str) -> None:
        process = self.process(name)
        self.signal(name, signal.SIGKILL)
        process.popen.wait(20)

    def restart(self, name: str, *, timeout: float = 60.0) -> None:
        """Start a killed process again with the same command and wait until it is ready."""
        process = self.process(name)
        if process.exited() is None:
            raise StackFailed(f"{name} is still running")
        process.start()
        deadline = time.monotonic() + timeout
        while not process.ready():
            if process.exited() is not None:
                raise StackFailed(self.report(process, f"exited with {process.exited()}"))
            if time.monotonic() > deadline:
                raise StackFailed(self.report(process, f"not ready {timeout:.0f} s after restart"))
            time.sleep(0.2)

    # --- what the databases hold ----------------------------------------------------------

    def query(self, service: str, sql: str, *params: Any) -> list[tuple]:
        """Rows of a query on a service's database (straight to PostgreSQL, not the proxy)."""
        with psycopg.connect(self.database_url(service), autocommit=True) as conn:
            return conn.execute(sql, params).fetchall()
