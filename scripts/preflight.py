#!/usr/bin/env python3
"""Fail at once, saying how to start it, when PostgreSQL or RabbitMQ is not reachable.

Usage: scripts/preflight.py [--wait SECONDS]
"""

import argparse
import socket
import sys
import time

DEPENDENCIES = [
    (
        "PostgreSQL",
        "127.0.0.1",
        5432,
        "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    ),
    ("RabbitMQ", "127.0.0.1", 5672, "rabbitmq-server -detached"),
]


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--wait", type=float, default=0, help="keep trying this many seconds")
    deadline = time.monotonic() + parser.parse_args().wait
    missing = DEPENDENCIES
    while True:
        missing = [dep for dep in missing if not reachable(dep[1], dep[2])]
        if not missing or time.monotonic() >= deadline:
            break
        time.sleep(1)
    for name, host, port, start in missing:
        print(
            f"error: {name} is not reachable on {host}:{port}. Start it with: {start}",
            file=sys.stderr,
        )
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
