#!/usr/bin/env python3
"""Make sure RabbitMQ answers: start an installed broker that is stopped, or say what to install.

Usage: scripts/preflight.py [--wait SECONDS]

The address is AMQP_URL's (default amqp://guest:guest@127.0.0.1:5672/, the services' default).
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
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
INSTALL = "Debian: apt-get install rabbitmq-server"


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
        "--wait", type=float, default=60, help="seconds a started broker has to answer"
    )
    wait = parser.parse_args().wait
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
    deadline = time.monotonic() + wait
    while not reachable(host, port):
        if time.monotonic() >= deadline:
            return error(
                f"RabbitMQ was started but does not answer on {host}:{port} in {wait:.0f} s"
            )
        time.sleep(1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
