#!/usr/bin/env python3
"""Make sure RabbitMQ and Redis answer: start an installed one that is down, or say what to install.

Usage: scripts/preflight.py [--wait SECONDS]

RabbitMQ's address is AMQP_URL's (default amqp://guest:guest@127.0.0.1:5672/, the services'
default); Redis's (the gateway's rate-limit counters) is RATE_LIMIT_STORE_URL's (default
redis://127.0.0.1:6379/0). A Redis started here keeps nothing on disk.
PostgreSQL is not checked here: scripts/up, scripts/test and scripts/drills start an embedded
server when they need one (scripts/local-postgres).
"""

import argparse
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

LOCAL_HOSTS = {"127.0.0.1", "localhost"}


@dataclass(frozen=True)
class LocalServer:
    """A server the stack needs, where it is configured, and how to start an installed one."""

    name: str
    url_variable: str
    default_url: str
    default_port: int
    executable: str
    install: str
    start_arguments: Callable[[int], list[str]]


SERVERS = [
    LocalServer(
        "RabbitMQ",
        "AMQP_URL",
        "amqp://guest:guest@127.0.0.1:5672/",
        5672,
        "rabbitmq-server",
        "Debian: apt-get install rabbitmq-server",
        lambda port: ["-detached"],
    ),
    LocalServer(
        "Redis",
        "RATE_LIMIT_STORE_URL",
        "redis://127.0.0.1:6379/0",
        6379,
        "redis-server",
        "Debian: apt-get install redis-server",
        # counters only: nothing on disk
        lambda port: [
            *("--daemonize", "yes", "--bind", "127.0.0.1", "--port", str(port)),
            *("--save", "", "--appendonly", "no"),
        ],
    ),
]


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--wait", type=float, default=60, help="seconds a started server has to answer"
    )
    wait = parser.parse_args().wait
    return max(ensure(server, wait) for server in SERVERS)


def ensure(server: LocalServer, wait: float) -> int:
    """Return 0 once ``server`` answers, starting an installed local one that is down."""
    url = urlsplit(os.environ.get(server.url_variable) or server.default_url)
    host, port = url.hostname or "127.0.0.1", url.port or server.default_port
    if reachable(host, port):
        return 0
    if host not in LOCAL_HOSTS:
        return error(f"{server.name} is not reachable on {host}:{port} ({server.url_variable})")
    # Debian installs some servers' scripts in /usr/sbin, often not on a user's PATH.
    found = shutil.which(server.executable, path=f"{os.environ.get('PATH', '')}:/usr/sbin")
    if found is None:
        return error(
            f"{server.name} is not running on {host}:{port} nor installed ({server.install})"
        )
    command = [found, *server.start_arguments(port)]
    print(f"==> starting {server.name} ({' '.join(command)})", file=sys.stderr)
    started = subprocess.run(command, check=False)  # noqa: S603 - found on PATH
    if started.returncode != 0:
        return error(f"{' '.join(command)} failed with exit code {started.returncode}")
    return wait_until_reachable(server.name, host, port, wait)


def wait_until_reachable(name: str, host: str, port: int, wait: float) -> int:
    deadline = time.monotonic() + wait
    while not reachable(host, port):
        if time.monotonic() >= deadline:
            return error(f"{name} was started but does not answer on {host}:{port} in {wait:.0f} s")
        time.sleep(1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
