"""Benchmark POST /orders/ end to end against a DRF hello-world served the same way, in one run.

    .venvs/orders/bin/python -m bench.orders.run [--seconds 10] [--concurrency 8]
                                                 [--through-gateway] [--json PATH] [--smoke]

Starts, on 127.0.0.1 ephemeral ports: a JWKS (tokens for 50 customers), the catalog lookup
stand-in (gunicorn), and the orders service (gunicorn, its own gunicorn.conf.py) with a benchmark
settings module that adds ``GET /bench/hello/`` (a DRF APIView returning {"hello": "world"}).
Orders use a fresh PostgreSQL database (``--database``, dropped and created at the start).
Each scenario is a closed loop of ``--concurrency`` clients split over two load processes.

With ``--through-gateway``, the run also starts the auth gateway (from .venvs/auth-gateway, its own
PostgreSQL database and a fresh signing key) in front of orders, issues the customers' tokens there,
and sends both scenarios through it: ``POST /orders/`` and the hello-world, which the benchmark's
routes also answer at ``GET /customers/bench-hello/`` (a path the gateway proxies to orders).

With ``--traced``, the run also starts a second orders service (and, with ``--through-gateway``,
a second gateway in front of it) on the same database and tokens, with tracing on at full
sampling (``OTEL_TRACES_SAMPLER=always_on``), exporting their spans to an OTLP/HTTP sink that
accepts and discards (``ecomms-otlp-sink`` of libs/standins), and sends ``POST /orders/`` to it in
turn with the untraced stack: orders/s and p50 traced against untraced, in one run (target:
tracing costs at most 15%).

``--json PATH`` also writes the figures (bench/report.py), every latency sample and the servers'
resident memory; ``--smoke`` is a run of a few seconds (its own database) that only proves the
benchmark works.
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
import threading
import time
import uuid
from collections import Counter
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import urlsplit

import psycopg

from bench import harness, report
from bench.harness import free_port
from ecomms_standins.jwks import LocalJWKS

ROOT = Path(__file__).resolve().parents[2]

ORDERS_DIR = ROOT / "services" / "orders"
BENCH_DIR = Path(__file__).resolve().parent
GUNICORN = Path(sys.executable).with_name("gunicorn")
CUSTOMERS = 50
PRODUCTS = 100
TRACED_TARGET = 1.15  # tracing every request may cost at most 15% (orders/s and p50)


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


GATEWAY_DIR = ROOT / "services" / "auth-gateway"
GATEWAY_PYTHON = ROOT / ".venvs" / "auth-gateway" / "bin" / "python"
ISSUE_TOKENS = f"""
from gateway.services import token_pair_issue, user_link_from_claims
for i in range({CUSTOMERS}):
    claims = {{"sub": f"bench-{{i}}", "email": f"bench{{i}}@example.com"}}
    print(token_pair_issue(user=user_link_from_claims(claims=claims)).access)
"""


def start_gateway(port: int, catalog_url: str, orders_url: str, args, logs: Path):
    """Start the auth gateway in front of orders; return it, customer tokens it issued and its
    environment."""
    if not GATEWAY_PYTHON.exists():
        raise SystemExit(f"{GATEWAY_PYTHON} is missing: run scripts/test once (it builds it)")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": gateway_database(args.database),
        "JWT_PRIVATE_KEY_FILE": str(logs / "jwt.pem"),
        "JWT_ACCESS_TTL_SECONDS": "3600",
        "CATALOG_URL": catalog_url,
        "ORDERS_URL": orders_url,
        "RATE_LIMIT": "1000000/m",
        "LOG_LEVEL": "WARNING",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WEB_CONCURRENCY": str(args.workers),
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    recreate_database(env["DATABASE_URL"])
    manage = [str(GATEWAY_PYTHON), "manage.py"]
    for command in (["migrate", "-v0"], ["generate_signing_key", str(logs / "jwt.pem")]):
        harness.setup_step([*manage, *command], cwd=GATEWAY_DIR, env=env)
    tokens = harness.setup_step(
        [*manage, "shell", "-c", ISSUE_TOKENS], cwd=GATEWAY_DIR, env=env
    ).stdout.split()
    return serve_gateway(env, logs / "gateway.log"), tokens[-CUSTOMERS:], env


def serve_gateway(env: dict[str, str], log: Path) -> subprocess.Popen:
    """Serve the gateway of ``env`` (its PORT) and wait until it answers."""
    process = subprocess.Popen(
        [str(GATEWAY_PYTHON), "-m", "gunicorn", "config.asgi:application"],
        cwd=GATEWAY_DIR,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    harness.wait_until_up(int(env["PORT"]), "/healthz", deadline=30)
    return process


def gateway_database(orders_database: str) -> str:
    """Return the URL of the gateway's throwaway database, beside the orders one."""
    return f"{orders_database}_gateway"


def recreate_database(url: str) -> None:
    server, name = url.rsplit("/", 1)
    harness.database_recreate(server, name)


def drop_database(url: str) -> None:
    server, name = url.rsplit("/", 1)
    harness.database_drop(server, name)


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
                if target.get("idempotency"):
                    headers["Idempotency-Key"] = uuid.uuid4().hex
            if target.get("auth"):
                headers["Authorization"] = f"Bearer {rng.choice(tokens)}"
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
    servers = target.get("servers", servers)  # a traced scenario is served by the traced stack
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


def arguments() -> argparse.Namespace:
    parser = harness.parser(__doc__.splitlines()[0])
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
        help="PostgreSQL URL (default: BENCH_DATABASE_URL or orders_bench on 127.0.0.1; "
        "--smoke: orders_bench_smoke_<pid>)",
    )
    parser.add_argument("--keep-database", action="store_true", help="do not drop it at the end")
    parser.add_argument("--idempotency-key", action="store_true", help="send a fresh key each")
    parser.add_argument(
        "--through-gateway", action="store_true", help="send both scenarios through the gateway"
    )
    parser.add_argument(
        "--traced",
        action="store_true",
        help="also POST /orders/ to a second orders (and gateway) with tracing on at full "
        "sampling, spans to a local OTLP sink, in turn with the untraced one",
    )
    args = parser.parse_args()
    args.seconds = min(args.seconds, 30.0)
    args.rounds = max(1, min(args.rounds, 5))
    if args.smoke:
        args.seconds, args.rounds, args.warmup, args.concurrency, args.workers = 1.0, 1, 0.5, 2, 1
    if not args.database:
        args.database = os.environ.get(
            "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/orders_bench"
        )
        if args.smoke:  # never the database of a full run, nor of another smoke run
            args.database += f"_smoke_{os.getpid()}"
    return args


def orders_env(args: argparse.Namespace, jwks: LocalJWKS, gateway_port: int) -> dict[str, str]:
    """The orders service's environment: tokens trusted from the gateway or the local JWKS."""
    trusted = (
        (f"http://127.0.0.1:{gateway_port}/.well-known/jwks.json", "http://127.0.0.1:8000")
        if args.through_gateway
        else (jwks.url, jwks.issuer)
    )
    env = {
        **os.environ,
        "DATABASE_URL": args.database,
        "AUTH_JWKS_URL": trusted[0],
        "AUTH_ISSUER": trusted[1],
        "AUTH_AUDIENCE": jwks.audience,
        "DJANGO_SETTINGS_MODULE": "bench_settings",
        "LOG_LEVEL": "WARNING",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return env


def scenarios_of(
    args: argparse.Namespace, base: str, hello: tuple[str, str], orders_label: str
) -> list[tuple[str, dict]]:
    """The hello-world and the order placement, as load targets."""
    return [
        (hello[0], {"method": "GET", "url": hello[1], "ok": 200, "auth": args.through_gateway}),
        (
            orders_label,
            {
                "method": "POST",
                "url": base + "/orders/",
                "ok": 201,
                "idempotency": args.idempotency_key,
                "auth": True,
            },
        ),
    ]


def served_scenarios(args, env, jwks, gateway_port, orders_port, logs, processes):
    """Start the gateway in front of orders (--through-gateway) or mint tokens locally; return
    the scenarios, the customers' tokens, the gateway and its environment (None without it)."""
    if not args.through_gateway:
        tokens = [
            jwks.mint(sub=f"bench-{i}", email=f"bench{i}@example.com", ttl=3600)
            for i in range(CUSTOMERS)
        ]
        base = f"http://127.0.0.1:{orders_port}"
        hello = ("DRF hello-world GET /bench/hello/", base + "/bench/hello/")
        label = "POST /orders/ (orders -> catalog -> PostgreSQL)"
        return scenarios_of(args, base, hello, label), tokens, None, None
    orders_url = f"http://127.0.0.1:{orders_port}"
    gateway, tokens, gateway_env = start_gateway(
        gateway_port, env["CATALOG_URL"], orders_url, args, logs
    )
    processes.append(gateway)
    base = f"http://127.0.0.1:{gateway_port}"
    hello = (
        "DRF hello-world GET /customers/bench-hello/ (gateway -> orders)",
        base + "/customers/bench-hello/",
    )
    label = "POST /orders/ (gateway -> orders -> catalog -> PostgreSQL)"
    return scenarios_of(args, base, hello, label), tokens, gateway, gateway_env


def traced_scenario(args, env, gateway_env, catalog, logs, tracing, processes) -> tuple:
    """Start orders again (and the gateway in front of it, given its environment) with tracing
    on, on the same database, catalog stand-in and tokens; return the traced order scenario."""
    orders, port = start_gunicorn(
        "orders-traced", "config.wsgi:application", {**env, **tracing}, args.workers, logs
    )
    processes.append(orders)
    harness.wait_until_up(port, "/healthz", deadline=30)
    servers, base = [orders.pid, catalog.pid], f"http://127.0.0.1:{port}"
    if gateway_env is not None:
        gateway_port = free_port()
        traced_env = {**gateway_env, **tracing, "PORT": str(gateway_port), "ORDERS_URL": base}
        gateway = serve_gateway(traced_env, logs / "gateway-traced.log")
        processes.append(gateway)
        servers.append(gateway.pid)
        base = f"http://127.0.0.1:{gateway_port}"
    [(_, target)] = scenarios_of(args, base, ("", ""), "")[1:]
    path = "gateway -> orders -> catalog" if gateway_env is not None else "orders -> catalog"
    return f"POST /orders/ traced ({path})", {**target, "servers": servers}


def measure(args, scenarios, tokens: list[str], servers: list[int]) -> dict[str, list[dict]]:
    """Warm up, then alternate the scenarios round after round; return each one's rounds."""
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
    return runs


def main() -> None:
    args = arguments()
    jwks = LocalJWKS()
    processes: list[subprocess.Popen] = []
    with harness.scratch_folder("bench-orders-") as logs:
        try:
            recreate_database(args.database)
            gateway_port = free_port()
            env = orders_env(args, jwks, gateway_port)
            migrate = [sys.executable, "manage.py", "migrate", "--verbosity", "0"]
            migrate_env = {**env, "PYTHONPATH": str(BENCH_DIR)}
            harness.setup_step(migrate, cwd=ORDERS_DIR, env=migrate_env)
            standin = f"ecomms_standins.catalog:sample({PRODUCTS})"
            catalog, catalog_port = start_gunicorn("catalog", standin, env, 1, logs)
            processes.append(catalog)
            env["CATALOG_URL"] = f"http://127.0.0.1:{catalog_port}"
            orders, orders_port = start_gunicorn(
                "orders", "config.wsgi:application", env, args.workers, logs
            )
            processes.append(orders)
            harness.wait_until_up(orders_port, "/healthz", deadline=30)
            scenarios, tokens, gateway, gateway_env = served_scenarios(
                args, env, jwks, gateway_port, orders_port, logs, processes
            )
            if args.traced:
                sink, tracing = harness.otlp_sink()
                processes.append(sink)
                scenarios.append(
                    traced_scenario(args, env, gateway_env, catalog, logs, tracing, processes)
                )
            # Server CPU per answer: orders and the catalog stand-in (and the gateway), workers too.
            servers = [orders.pid, catalog.pid] + ([gateway.pid] if gateway else [])
            runs = measure(args, scenarios, tokens, servers)
            memory = {"orders (gunicorn)": report.rss_mb(orders.pid)}
            memory["catalog stand-in (gunicorn)"] = report.rss_mb(catalog.pid)
            if gateway:
                memory["auth gateway (gunicorn)"] = report.rss_mb(gateway.pid)
            results = {label: summarize(label_runs) for label, label_runs in runs.items()}
            with psycopg.connect(args.database) as connection:
                stored = connection.execute("SELECT count(*) FROM orders_order").fetchone()[0]
        finally:
            stop_all(processes, jwks, args)

    print_results(args, runs, results, stored)
    if args.json:
        report.write(args.json, json_result(args, runs, results, memory))
        print(f"written: {args.json}")
    failed = [label for label, result in results.items() if not result["ok"]]
    if failed:
        raise SystemExit(f"bench: no successful answer at all for {', '.join(failed)}")


def stop_all(processes: list[subprocess.Popen], jwks: LocalJWKS, args) -> None:
    """Stop the servers, the JWKS and drop the databases (unless --keep-database)."""
    for process in reversed(processes):
        process.terminate()
    for process in processes:
        process.wait(timeout=30)
    jwks.close()
    if not args.keep_database:
        drop_database(args.database)
    if args.through_gateway:
        drop_database(gateway_database(args.database))


def print_results(args, runs: dict, results: dict, stored: int) -> None:
    print(
        f"\nconcurrency {args.concurrency}, {args.rounds} rounds of {args.seconds:g} s per "
        f"scenario, {args.workers} gunicorn workers, {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.2f}\n"
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
    hello, placed, *traced = results.values()
    ratio = placed["rate"] / hello["rate"] if hello["rate"] else 0.0
    hello_runs, placed_runs, *_ = runs.values()
    per_round = [
        rate(p) / rate(h) if rate(h) else 0.0 for h, p in zip(hello_runs, placed_runs, strict=True)
    ]
    print(
        f"\norders/hello-world rate: {ratio:.1%} overall; per round "
        f"{', '.join(f'{r:.1%}' for r in per_round)} (target >= 10%)"
    )
    if traced:
        print(
            f"tracing on: {traced[0]['rate'] / placed['rate']:.2f}x the orders/s and "
            f"{traced[0]['p50'] / placed['p50']:.2f}x the p50 of tracing off "
            f"(target: at most {TRACED_TARGET - 1:.0%} slower)"
        )
    print(
        "server CPU ms: CPU time of the orders and catalog gunicorns (and the gateway's, through "
        "it) per successful answer (PostgreSQL's not counted)"
    )
    print(f"orders stored in PostgreSQL: {stored} (every 201 of warm-up and measured runs)")
    for label, result in results.items():
        if result["errors"]:
            print(f"non-success answers for {label}: {result['statuses']}")


def json_result(
    args: argparse.Namespace, runs: dict[str, list[dict]], results: dict, memory: dict
) -> dict:
    """Return the run as bench/report.py's shared result: figures, samples, memory."""
    (hello_label, hello), (orders_label, placed), *traced = results.items()
    path = "through the gateway" if args.through_gateway else "straight to orders"
    baseline_label = f"DRF hello-world, same stack, {path}"
    ratio = placed["rate"] / hello["rate"] if hello["rate"] else None
    figures = [
        report.figure(
            f"orders placed per second, {path}",
            placed["rate"],
            "req/s",
            baseline=hello["rate"],
            baseline_label=baseline_label,
            ratio=ratio,
            # the target is for the whole path, gateway included
            target=">= 10% of hello-world" if args.through_gateway else None,
            met=(ratio is not None and ratio >= 0.10) if args.through_gateway else None,
        ),
        *(
            report.figure(
                f"POST /orders/ {quantile}",
                placed[quantile],
                "ms",
                baseline=hello[quantile],
                baseline_label=f"hello-world {quantile}, {path}",
            )
            for quantile in ("p50", "p99")
        ),
        report.figure(
            "server CPU per order (orders, catalog stand-in"
            + (", gateway)" if args.through_gateway else ")"),
            placed["cpu_ms"],
            "ms",
            baseline=hello["cpu_ms"],
            baseline_label="per hello-world",
        ),
        report.figure(
            "answers other than 201 / 200",
            placed["errors"] + hello["errors"],
            "requests",
            target="none",
            met=placed["errors"] + hello["errors"] == 0,
        ),
    ]
    if traced:
        figures += traced_figures(path, placed, traced[0][1])
    return report.result(
        "orders",
        config={
            "smoke": args.smoke,
            "through_gateway": args.through_gateway,
            "traced": args.traced,
            "idempotency_key": args.idempotency_key,
            "seconds": args.seconds,
            "rounds": args.rounds,
            "warmup": args.warmup,
            "concurrency": args.concurrency,
            "workers": args.workers,
            "customers": CUSTOMERS,
            "catalog_products": PRODUCTS,
            "cpus": os.cpu_count(),
        },
        figures=figures,
        rss_mb=memory,
        samples_ms={
            label: [value * 1000 for run in runs[label] for value in run["latencies"]]
            for label in (orders_label, hello_label, *(label for label, _ in traced))
        },
    )


def traced_figures(path: str, untraced: dict, traced: dict) -> list[dict]:
    """Tracing's cost: the traced stack's orders/s, p50 and CPU against the untraced one's."""
    slower = f"at most {TRACED_TARGET - 1:.0%} slower"
    rate_ratio = traced["rate"] / untraced["rate"] if untraced["rate"] else None
    p50_ratio = traced["p50"] / untraced["p50"] if untraced["p50"] else None
    return [
        report.figure(
            f"orders placed per second, {path}, tracing on (full sampling)",
            traced["rate"],
            "req/s",
            baseline=untraced["rate"],
            baseline_label=f"orders/s, {path}, tracing off, same run",
            target=f">= {1 / TRACED_TARGET:.2f}x tracing off ({slower})",
            met=rate_ratio is not None and rate_ratio >= 1 / TRACED_TARGET,
        ),
        report.figure(
            f"POST /orders/ p50, {path}, tracing on",
            traced["p50"],
            "ms",
            baseline=untraced["p50"],
            baseline_label="p50, tracing off, same run",
            target=f"<= {TRACED_TARGET:.2f}x tracing off ({slower})",
            met=p50_ratio is not None and p50_ratio <= TRACED_TARGET,
        ),
        report.figure(
            "server CPU per order, tracing on",
            traced["cpu_ms"],
            "ms",
            baseline=untraced["cpu_ms"],
            baseline_label="per order, tracing off",
        ),
        report.figure(
            "answers other than 201, tracing on",
            traced["errors"],
            "requests",
            target="none",
            met=traced["errors"] == 0,
        ),
    ]


if __name__ == "__main__":
    main()
