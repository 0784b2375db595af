"""Benchmark POST /orders/ end to end against a DRF hello-world served the same way, in one run.

    .venvs/orders/bin/python bench/orders/run.py [--seconds 10] [--concurrency 8]
                                                 [--gateway-url URL --gateway-token JWT]

Starts, on 127.0.0.1 ephemeral ports: a JWKS (tokens for 50 customers), the catalog lookup
stand-in (gunicorn), and the orders service (gunicorn, its own gunicorn.conf.py) with a benchmark
settings module that adds ``GET /bench/hello/`` (a DRF APIView returning {"hello": "world"}).
Orders use a fresh PostgreSQL database (``--database``, dropped and created at the start).
Each scenario is a closed loop of ``--concurrency`` clients split over two load processes.

With ``--gateway-url``, orders are placed through the gateway instead (``POST {gateway}/orders/``
with ``--gateway-token``; the gateway must route to an orders service); hello-world stays direct.
"""

import argparse
import json
import multiprocessing
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import urlsplit

import psycopg

from ecomms_common.testing.jwks import LocalJWKS

ROOT = Path(__file__).resolve().parents[2]
ORDERS_DIR = ROOT / "services" / "orders"
BENCH_DIR = Path(__file__).resolve().parent
GUNICORN = Path(sys.executable).with_name("gunicorn")
CUSTOMERS = 50
PRODUCTS = 100


def start_gunicorn(name: str, app: str, env: dict[str, str], workers: int, logs: Path):
    """Start gunicorn on 127.0.0.1:0; return the process and the port it listens on."""
    log = logs / f"{name}.log"
    process = subprocess.Popen(
        [
            str(GUNICORN),
            app,
            "--bind",
            "127.0.0.1:0",
            "--workers",
            str(workers),
            "--chdir",
            str(ORDERS_DIR),
            "--pythonpath",
            f"{ORDERS_DIR},{BENCH_DIR}",
            "--no-control-socket",  # the default path is shared by every gunicorn on the host
        ],
        cwd=ORDERS_DIR,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        match = re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", log.read_text())
        if match and log.read_text().count("Booting worker") >= workers:
            return process, int(match.group(1))
        if process.poll() is not None:
            break
        time.sleep(0.1)
    process.terminate()
    raise SystemExit(f"{name} did not start; see {log}")


def wait_until_up(port: int, path: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            connection = HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", path)
            if connection.getresponse().status < 500:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"nothing answers on port {port}")


def recreate_database(url: str) -> None:
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin_url = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        connection.execute(f'CREATE DATABASE "{name}"')


def drop_database(url: str) -> None:
    parts = urlsplit(url)
    admin_url = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{parts.path.lstrip("/")}"')


def load(args: tuple) -> tuple[list[float], Counter]:
    """Run one load process: ``threads`` closed-loop clients for ``seconds``; return latencies."""
    target, threads, seconds, tokens, seed = args
    rng = random.Random(seed)
    latencies: list[float] = []
    statuses: Counter = Counter()
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def client() -> None:
        url = urlsplit(target["url"])
        while time.monotonic() < stop_at:
            headers = {"Content-Type": "application/json"}
            body = None
            if target["method"] == "POST":
                count = rng.randint(1, 5)
                items = [
                    {"product_id": product_id, "quantity": rng.randint(1, 3)}
                    for product_id in rng.sample(range(1, PRODUCTS + 1), count)
                ]
                body = json.dumps({"items": items, "currency": "USD"})
                headers["Authorization"] = f"Bearer {rng.choice(tokens)}"
                if target.get("idempotency"):
                    headers["Idempotency-Key"] = uuid.uuid4().hex
            started = time.perf_counter()
            try:
                connection = HTTPConnection(url.hostname, url.port, timeout=30)
                connection.request(target["method"], url.path, body=body, headers=headers)
                response = connection.getresponse()
                response.read()
                status = response.status
                connection.close()
            except OSError as exc:
                status = type(exc).__name__
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                statuses[status] += 1

    workers = [threading.Thread(target=client) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return latencies, statuses


def cpu_seconds(pids: list[int]) -> float:
    """Return the CPU time (user + system) the processes and their children have used so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        children = Path(f"/proc/{pid}/task/{pid}/children")
        family = [pid, *map(int, children.read_text().split())] if children.exists() else [pid]
        for member in family:
            try:
                fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
            except FileNotFoundError:
                continue
            total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return total


def run_scenario(
    pool, target: dict, concurrency: int, seconds: float, tokens: list[str], servers: list[int]
) -> dict:
    """Load one target for ``seconds``; return its latencies, answers, wall and server CPU time."""
    processes = 2
    per_process = [
        concurrency // processes + (i < concurrency % processes) for i in range(processes)
    ]
    jobs = [(target, n, seconds, tokens, i) for i, n in enumerate(per_process) if n]
    cpu_before = cpu_seconds(servers)
    started = time.monotonic()
    results = pool.map(load, jobs)
    return {
        "latencies": [value for result in results for value in result[0]],
        "statuses": sum((result[1] for result in results), Counter()),
        "wall": time.monotonic() - started,
        "cpu": cpu_seconds(servers) - cpu_before,
        "ok_status": target["ok"],
    }


def summarize(runs: list[dict]) -> dict:
    """Add up the rounds of one scenario: successes per second, p50 and p99 of every answer."""
    latencies = sorted(value for run in runs for value in run["latencies"])
    statuses: Counter = sum((run["statuses"] for run in runs), Counter())
    ok = statuses.get(runs[0]["ok_status"], 0)
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    return {
        "ok": ok,
        "errors": len(latencies) - ok,
        "statuses": dict(statuses),
        "rate": ok / sum(run["wall"] for run in runs),
        "cpu_ms": 1000 * sum(run["cpu"] for run in runs) / ok if ok else 0.0,
        "p50": quantiles[49] * 1000,
        "p99": quantiles[98] * 1000,
    }


def rate(run: dict) -> float:
    return run["statuses"].get(run["ok_status"], 0) / run["wall"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="per scenario and round")
    parser.add_argument("--rounds", type=int, default=3, help="hello-world, then orders, N times")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, default=8, help="closed-loop clients")
    parser.add_argument(
        "--workers",
        type=int,
        default=2 * (os.cpu_count() or 1) + 1,
        help="gunicorn workers of the orders service (default: gunicorn's 2 x CPUs + 1)",
    )
    parser.add_argument(
        "--database",
        default=os.environ.get(
            "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/orders_bench"
        ),
    )
    parser.add_argument("--keep-database", action="store_true", help="do not drop it at the end")
    parser.add_argument("--idempotency-key", action="store_true", help="send a fresh key each")
    parser.add_argument("--gateway-url", help="place orders through this gateway")
    parser.add_argument("--gateway-token", help="a gateway-issued customer access token")
    args = parser.parse_args()
    args.seconds = min(args.seconds, 30.0)
    args.rounds = max(1, min(args.rounds, 5))
    if args.gateway_url and not args.gateway_token:
        parser.error("--gateway-url needs --gateway-token")

    logs = Path(tempfile.mkdtemp(prefix="bench-orders-"))
    jwks = LocalJWKS()
    processes: list[subprocess.Popen] = []
    try:
        recreate_database(args.database)
        env = {
            **os.environ,
            "DATABASE_URL": args.database,
            "AUTH_JWKS_URL": jwks.url,
            "AUTH_ISSUER": jwks.issuer,
            "AUTH_AUDIENCE": jwks.audience,
            "DJANGO_SETTINGS_MODULE": "bench_settings",
            "LOG_LEVEL": "WARNING",
        }
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--verbosity", "0"],
            cwd=ORDERS_DIR,
            env={**env, "PYTHONPATH": str(BENCH_DIR)},
            check=True,
        )
        catalog, catalog_port = start_gunicorn("catalog", "catalog_app:app", env, 1, logs)
        processes.append(catalog)
        env["CATALOG_URL"] = f"http://127.0.0.1:{catalog_port}"
        orders, orders_port = start_gunicorn(
            "orders", "config.wsgi:application", env, args.workers, logs
        )
        processes.append(orders)
        wait_until_up(orders_port, "/healthz")

        if args.gateway_url:
            tokens = [args.gateway_token]
            orders_url = args.gateway_url.rstrip("/") + "/orders/"
            orders_label = "POST /orders/ (gateway -> orders -> catalog -> PostgreSQL)"
        else:
            tokens = [
                jwks.mint(sub=f"bench-{i}", email=f"bench{i}@example.com", ttl=3600)
                for i in range(CUSTOMERS)
            ]
            orders_url = f"http://127.0.0.1:{orders_port}/orders/"
            orders_label = "POST /orders/ (orders -> catalog -> PostgreSQL)"
        scenarios = [
            (
                "DRF hello-world GET /bench/hello/",
                {"method": "GET", "url": f"http://127.0.0.1:{orders_port}/bench/hello/", "ok": 200},
            ),
            (
                orders_label,
                {
                    "method": "POST",
                    "url": orders_url,
                    "ok": 201,
                    "idempotency": args.idempotency_key,
                },
            ),
        ]
        # Server CPU per answer: the orders service and the catalog stand-in with their workers.
        servers = [orders.pid, catalog.pid]
        context = multiprocessing.get_context("spawn")
        runs: dict[str, list[dict]] = {label: [] for label, _ in scenarios}
        with context.Pool(2) as pool:
            for _, target in scenarios:
                run_scenario(pool, target, args.concurrency, args.warmup, tokens, servers)
            # Alternate the scenarios so that a change in the machine's load hits both alike.
            for _ in range(args.rounds):
                for label, target in scenarios:
                    runs[label].append(
                        run_scenario(pool, target, args.concurrency, args.seconds, tokens, servers)
                    )
        results = {label: summarize(label_runs) for label, label_runs in runs.items()}
        with psycopg.connect(args.database) as connection:
            stored = connection.execute("SELECT count(*) FROM orders_order").fetchone()[0]
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
        jwks.close()
        if not args.keep_database:
            drop_database(args.database)

    print(
        f"\nconcurrency {args.concurrency}, {args.rounds} rounds of {args.seconds:g} s per "
        f"scenario, {args.workers} gunicorn workers, {os.cpu_count()} CPUs, logs in {logs}\n"
    )
    print(
        f"| {'scenario':<58} | {'ok':>6} | {'errors':>6} | {'req/s':>7} | "
        f"{'p50 ms':>7} | {'p99 ms':>7} | {'server CPU ms':>13} |"
    )
    print(f"|{'-' * 60}|{'-' * 8}|{'-' * 8}|{'-' * 9}|{'-' * 9}|{'-' * 9}|{'-' * 15}|")
    for label, result in results.items():
        print(
            f"| {label:<58} | {result['ok']:>6} | {result['errors']:>6} | "
            f"{result['rate']:>7.1f} | {result['p50']:>7.1f} | {result['p99']:>7.1f} | "
            f"{result['cpu_ms']:>13.2f} |"
        )
    hello, placed = results.values()
    ratio = placed["rate"] / hello["rate"] if hello["rate"] else 0.0
    hello_runs, placed_runs = runs.values()
    per_round = [
        rate(p) / rate(h) if rate(h) else 0.0 for h, p in zip(hello_runs, placed_runs, strict=True)
    ]
    print(
        f"\norders/hello-world rate: {ratio:.1%} overall; per round "
        f"{', '.join(f'{r:.1%}' for r in per_round)} (target >= 10%)"
    )
    print(
        "server CPU ms: CPU time of the orders and catalog gunicorns per successful answer "
        "(PostgreSQL's not counted)"
    )
    if args.gateway_url:
        print("orders went to the gateway's orders service; server CPU above is the bench's own")
    else:
        print(f"orders stored in PostgreSQL: {stored} (every 201 of warm-up and measured runs)")
    for label, result in results.items():
        if result["errors"]:
            print(f"non-success answers for {label}: {result['statuses']}")


if __name__ == "__main__":
    main()
