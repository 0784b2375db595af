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
from urllib.parse import urlsplit

DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
INSTALL = "Debian: apt-get install rabbitmq-server"
INSTALL_REDIS = "Debian: apt-get install redis-server"


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
    return rabbitmq(wait) or redis(wait)


def rabbitmq(wait: float) -> int:
    url = urlsplit(os.environ.get("AMQP_URL") or DEFAULT_AMQP_URL)
    host, port = url.hostname or "127.0.0.1", url.port or 5672
    if reachable(host, port):
        return 0
    if host not in LOCAL_HOSTS:
        return error(f"RabbitMQ is not reachable on {host}:{port} (AMQP_URL)")
    # Debian installs the broker's scripts in /usr/sbin, often not on a user's PATH.
    server = shutil.which("rabbitmq-server", path=f"{os.environ.get('PATH', '')}:/usr/sbin")
    if server is None:
        return error(f"RabbitMQ is not running on {host}:{port} nor installed ({INSTALL})")

    print(f"==> starting RabbitMQ ({server} -detached)", file=sys.stderr)
    started = subprocess.run([server, "-detached"], check=False)  # noqa: S603 - found on PATH
    if started.returncode != 0:
        return error(f"rabbitmq-server -detached failed with exit code {started.returncode}")
    return wait_until_reachable("RabbitMQ", host, port, wait)


def redis(wait: float) -> int:
    url = urlsplit(os.environ.get("RATE_LIMIT_STORE_URL") or DEFAULT_REDIS_URL)
    host, port = url.hostname or "127.0.0.1", url.port or 6379
    if reachable(host, port):
        return 0
    if host not in LOCAL_HOSTS:
        return error(f"Redis is not reachable on {host}:{port} (RATE_LIMIT_STORE_URL)")
    server = shutil.which("redis-server", path=f"{os.environ.get('PATH', '')}:/usr/sbin")
    if server is None:
        return error(f"Redis is not running on {host}:{port} nor installed ({INSTALL_REDIS})")

    command = [server, "--daemonize", "yes", "--bind", "127.0.0.1", "--port", str(port)]
    command += ["--save", "", "--appendonly", "no"]  # counters only: nothing on disk
    print(f"==> starting Redis ({server} on 127.0.0.1:{port}, nothing on disk)", file=sys.stderr)
    started = subprocess.run(command, check=False)  # noqa: S603 - found on PATH
    if started.returncode != 0:
        return error(f"redis-server --daemonize yes failed with exit code {started.returncode}")
    return wait_until_reachable("Redis", host, port, wait)


def wait_until_reachable(name: str, host: str, port: int, wait: float) -> int:
    deadline = time.monotonic() + wait
    while not reachable(host, port):
        if time.monotonic() >= deadline:
            return error(f"{name} was started but does not answer on {host}:{port} in {wait:.0f} s")
        time.sleep(1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
