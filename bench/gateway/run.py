"""Benchmark: catalog reads through the gateway next to the same reads sent straight to catalog.

Run from the repository root with the gateway's virtual environment (the catalog runs from its
own, ``.venvs/catalog``)::

    .venvs/auth-gateway/bin/python -m bench.gateway.run [--seconds 15] [--clients 4]
    .venvs/auth-gateway/bin/python -m bench.gateway.run --smoke      # a few seconds, tiny data

It starts, on 127.0.0.1 ports chosen by the OS: the real catalog (gunicorn, its own
``gunicorn.conf.py``) on a throwaway PostgreSQL database it creates, fills with generated
products through ``manage.py import_catalog`` and drops at the end, and the gateway (gunicorn,
its own settings, a throwaway PostgreSQL database and signing key; the catalog trusts its JWKS).
Then, for each read (``--reads``: a page of 50 products, one product, a category's average
price), with the same client load, it sends the read four ways: straight to catalog and through
the gateway, each anonymously (a public read) and with a bearer token (which the gateway verifies
before proxying and the catalog verifies again). Each gateway read is compared with the same read
sent straight, with the same token or none. Targets alternate in short rounds, in a rotating
order, after a warm-up, so that load from elsewhere on the machine weighs on all of them alike.
It prints requests/s, p50, p99 and CPU per call of each server, and the gateway's p50 against the
catalog's (target: at most +30%); ``--json PATH`` also writes the figures, every latency sample
and each gunicorn process's resident memory. ``--bare-proxy`` also measures the floor: the same
reads through bench/gateway/bare_proxy.py, a proxy on the edge's server and client that does
nothing else. ``--traced`` also measures tracing's cost: a second gateway and catalog with
tracing on at full sampling (``OTEL_TRACES_SAMPLER=always_on``), exporting to an OTLP/HTTP sink
that accepts and discards (``ecomms-otlp-sink`` of libs/standins), each read compared with the
same read through the untraced pair (target: p50 at most +15%).
"""

import argparse
import http.client
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import harness
from bench import report as shared_report
from bench.harness import Server, free_port, get, gunicorn, wait_until_up

ROOT = Path(__file__).resolve().parents[2]

GATEWAY = ROOT / "services" / "auth-gateway"
CATALOG = ROOT / "services" / "catalog"
DATABASE_SERVER = harness.SERVER
P50_TARGET = 1.30  # the gateway may add at most 30% to the p50 of the read sent straight
GATEWAY_CPU_TARGET_MS = 0.5  # the gateway's own CPU per proxied call
THROUGHPUT_TARGET, THROUGHPUT_CLIENTS = 0.70, 8  # of the catalog's average_price req/s, 8 clients
TRACED_P50_TARGET = 1.15  # tracing every request may add at most 15% to the gateway's p50
# below the root: 1 + 6 + 30 + 120 + 480 = 637 categories, 5 levels
BRANCHING = [6, 5, 4, 4]
READS = ("list", "detail", "average_price")


def generated_products(count: int, seed: int = 11) -> list[dict[str, Any]]:
    """Return ``count`` products in the upload format over a 5-level tree, a quarter in two."""
    rng = random.Random(seed)
    leaves = [["All Products"]]
    for depth, fanout in enumerate(BRANCHING):
        leaves = [[*path, f"L{depth + 1}-{i}"] for path in leaves for i in range(fanout)]
    products = []
    for number in range(count):
        paths = [rng.choice(leaves)]
        if number % 4 == 0:
            paths.append(rng.choice(leaves))
        products.append(
            {
                "name": f"Product {number}",
                "description": f"Generated product number {number} for the gateway benchmark.",
                "price": f"{rng.randint(50, 50000) / 100:.2f}",
                "currency": "USD",
                "sku": f"GW-BENCH-{number}",
                "categories": paths,
            }
        )
    return products


@dataclass
class Measured:
    latencies: list[float] = field(default_factory=list)  # seconds
    failures: int = 0
    seconds: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)  # server name -> CPU seconds used

    def add(self, other: "Measured") -> None:
        self.latencies += other.latencies
        self.failures += other.failures
        self.seconds += other.seconds
        for name, used in other.cpu.items():
            self.cpu[name] = self.cpu.get(name, 0.0) + used

    def cpu_ms_per_call(self, server: str) -> float:
        return self.cpu.get(server, 0.0) / max(1, len(self.latencies) + self.failures) * 1000

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.seconds

    def percentile_ms(self, q: float) -> float:
        samples = sorted(self.latencies)
        if q == 0.5:
            return statistics.median(samples) * 1000
        return samples[min(len(samples) - 1, int(len(samples) * q))] * 1000


@dataclass(frozen=True)
class Target:
    name: str
    port: int
    headers: dict[str, str]
    baseline: str | None = None  # the direct target this one is compared with
    proxy: str | None = None  # the server between the client and the catalog, if any
    catalog: str = "catalog"  # the catalog server that answers it


def load(target: Target, paths: list[str], *, seconds: float, clients: int) -> Measured:
    """GET ``paths`` in turn from ``clients`` keep-alive connections for ``seconds``."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    failures = [0] * clients
    stop_at = time.monotonic() + seconds

    def client(index: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", target.port, timeout=10)
        number = index
        try:
            while time.monotonic() < stop_at:
                path = paths[number % len(paths)]
                number += 1
                started = time.perf_counter()
                try:
                    connection.request("GET", path, headers=target.headers)
                    response = connection.getresponse()
                    response.read()
                except (OSError, http.client.HTTPException):
                    failures[index] += 1
                    connection.close()  # reconnects on the next request
                    continue
                elapsed = time.perf_counter() - started
                if response.status == 200:
                    latencies[index].append(elapsed)
                else:
                    failures[index] += 1
                if response.will_close:
                    connection.close()
        finally:
            connection.close()

    threads = [threading.Thread(target=client, args=(index,)) for index in range(clients)]
    begun = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Measured(
        latencies=[sample for per_client in latencies for sample in per_client],
        failures=sum(failures),
        seconds=time.monotonic() - begun,
    )


def read_paths(catalog_port: int) -> dict[str, list[str]]:
    """Return the paths each read sends, taken from the catalog's own answers."""
    status, body = get(catalog_port, "/products/?page_size=50")
    if status != 200:
        raise SystemExit(f"bench: the catalog answered {status} to /products/")
    ids = [product["id"] for product in json.loads(body)["results"]][:20]
    status, body = get(catalog_port, "/categories/")
    # leaves: small subtrees, the common case of a shop's category page
    slugs, nodes = [], list(json.loads(body)["categories"])
    while nodes and len(slugs) < 20:
        node = nodes.pop()
        nodes += node["children"]
        if not node["children"]:
            slugs.append(node["slug"])
    return {
        "list": ["/products/?page_size=50"],
        "detail": [f"/products/{product_id}/" for product_id in ids],
        "average_price": [f"/categories/{slug}/average_price/" for slug in slugs],
    }


# --slow-clients: how many slow connections, and the gateway's deadlines (seconds), by --smoke.
SLOW = {
    False: {"headers": 200, "bodies": 50, "header_deadline": 10.0, "body_deadline": 30.0},
    True: {"headers": 20, "bodies": 5, "header_deadline": 1.0, "body_deadline": 2.0},
}
SLOW_SOURCE = "127.0.0.2"  # not the measuring clients' address: a per-address cap spares them
SLOW_P99_TARGET_MS = 100.0


class SlowConnections:
    """Connections from ``SLOW_SOURCE`` that send a byte a second and never finish.

    ``headers`` of them never finish their headers; ``bodies`` send whole headers of a POST with
    a bearer token and a 1 MB Content-Length, then never finish the body. Records, per
    connection, when the server closed it and the status line it answered before.
    """

    def __init__(self, port: int, *, headers: int, bodies: int, bearer: dict[str, str]):
        self.opened_at = time.monotonic()
        self.sockets: list[socket.socket] = []
        self.kinds: list[str] = []
        self.closed_after: dict[int, float] = {}
        self.answers: dict[int, bytes] = {}
        for number in range(headers + bodies):
            connection = socket.create_connection(
                ("127.0.0.1", port), timeout=10, source_address=(SLOW_SOURCE, 0)
            )
            if number < headers:
                connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                self.kinds.append("headers")
            else:
                connection.sendall(
                    b"POST /products/upload/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    + f"Authorization: {bearer['Authorization']}\r\n".encode()
                    + b"Content-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{"
                )
                self.kinds.append("body")
            connection.setblocking(False)
            self.sockets.append(connection)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._trickle, daemon=True)
        self._thread.start()

    def _trickle(self) -> None:
        while not self._stop.is_set() and len(self.closed_after) < len(self.sockets):
            for number, connection in enumerate(self.sockets):
                if number in self.closed_after:
                    continue
                try:
                    while chunk := connection.recv(65536):
                        self.answers[number] = self.answers.get(number, b"") + chunk
                    self.closed_after[number] = time.monotonic() - self.opened_at  # EOF
                    continue
                except BlockingIOError:
                    pass
                except OSError:
                    self.closed_after[number] = time.monotonic() - self.opened_at
                    continue
                trickle = b"X-Slow: 1\r\n" if self.kinds[number] == "headers" else b" "
                try:
                    connection.send(trickle)
                except OSError:
                    self.closed_after[number] = time.monotonic() - self.opened_at
            self._stop.wait(1.0)

    def open_count(self) -> int:
        return len(self.sockets) - len(self.closed_after)

    def wait_closed(self, seconds: float) -> None:
        self._thread.join(seconds)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for connection in self.sockets:
            connection.close()

    def summary(self, kind: str) -> dict[str, Any]:
        numbers = [n for n, k in enumerate(self.kinds) if k == kind]
        statuses = [self.answers.get(n, b"").split(b"\r\n", 1)[0].decode() for n in numbers]
        closed = [self.closed_after[n] for n in numbers if n in self.closed_after]
        return {
            "count": len(numbers),
            "closed": len(closed),
            "answered_408": sum(" 408 " in status for status in statuses),
            "closed_after_s": (min(closed), max(closed)) if closed else None,
        }


def slow_clients(
    args: argparse.Namespace,
    gateway_port: int,
    paths: dict[str, list[str]],
    bearer: dict[str, str],
    servers: list[Server],
    load_before: tuple[float, float, float],
) -> None:
    """Measure /healthz and average_price through the gateway while slow clients hold it."""
    plan = SLOW[args.smoke]
    reads = {"healthz": ["/healthz"], "average_price": paths["average_price"]}
    gateway = Target("gateway", gateway_port, {})
    quiet = {read: Measured() for read in reads}
    for read, read_paths_ in reads.items():
        load(gateway, read_paths_, seconds=args.warmup, clients=args.clients)
        quiet[read].add(load(gateway, read_paths_, seconds=args.seconds / 4, clients=args.clients))

    slow = SlowConnections(
        gateway_port, headers=plan["headers"], bodies=plan["bodies"], bearer=bearer
    )
    held = {read: Measured() for read in reads}
    # While every slow connection is still open: until shortly before the header deadline.
    window_ends = slow.opened_at + plan["header_deadline"] * 0.8
    open_during = []
    while time.monotonic() < window_ends:
        for read, read_paths_ in reads.items():
            open_during.append(slow.open_count())
            held[read].add(load(gateway, read_paths_, seconds=0.25, clients=args.clients))
    slow.wait_closed(plan["body_deadline"] + 10)
    slow.stop()

    print(
        f"\n{plan['headers']} slow-header and {plan['bodies']} slow-body connections from "
        f"{SLOW_SOURCE}; deadlines {plan['header_deadline']:g} s (headers), "
        f"{plan['body_deadline']:g} s (body); {args.clients} measuring clients from 127.0.0.1; "
        f"slow connections open while measuring: {min(open_during)}-{max(open_during)}\n"
    )
    figures = []
    print(f"{'read':14} {'phase':22} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6}")
    for read in reads:
        for phase, seen in (("no slow clients", quiet[read]), ("slow clients held", held[read])):
            if not seen.latencies:
                raise SystemExit(f"bench: no successful {read} through the gateway ({phase})")
            p50, p99 = seen.percentile_ms(0.5), seen.percentile_ms(0.99)
            print(f"{read:14} {phase:22} {seen.rps:7.0f} {p50:7.2f} {p99:7.2f} {seen.failures:6d}")
        base, seen = quiet[read], held[read]
        p99 = seen.percentile_ms(0.99)
        figures += [
            shared_report.figure(
                f"{read} p99 through the gateway, slow clients held",
                p99,
                "ms",
                baseline=base.percentile_ms(0.99),
                baseline_label=f"{read} p99, no slow clients",
                target=f"< {SLOW_P99_TARGET_MS:g} ms",
                met=p99 < SLOW_P99_TARGET_MS and seen.failures == 0,
            ),
            shared_report.figure(
                f"{read} p50 through the gateway, slow clients held",
                seen.percentile_ms(0.5),
                "ms",
                baseline=base.percentile_ms(0.5),
                baseline_label=f"{read} p50, no slow clients",
            ),
        ]
    for kind, deadline in (("headers", "header_deadline"), ("body", "body_deadline")):
        summary = slow.summary(kind)
        window = summary["closed_after_s"]
        print(
            f"slow {kind}: {summary['closed']} of {summary['count']} closed by the gateway, "
            f"{summary['answered_408']} with a 408; closed after "
            + (f"{window[0]:.1f}-{window[1]:.1f} s" if window else "-")
            + f" (deadline {plan[deadline]:g} s)"
        )
        met = summary["closed"] == summary["answered_408"] == summary["count"]
        figures.append(
            shared_report.figure(
                f"slow-{kind} connections closed with a 408",
                summary["answered_408"],
                "connections",
                baseline=summary["count"],
                baseline_label="slow connections opened",
                target="all, by the deadline",
                met=met and window is not None and window[1] < plan[deadline] + 5,
            )
        )
    if args.json:
        shared_report.write(
            args.json,
            shared_report.result(
                "gateway-slow-clients",
                config={"clients": args.clients, "workers": args.workers, **plan},
                figures=figures,
                rss_mb={},
                samples_ms={
                    f"{read}, {phase}": [sample * 1000 for sample in seen.latencies]
                    for read in reads
                    for phase, seen in (("quiet", quiet[read]), ("held", held[read]))
                },
            ),
        )
        print(f"written: {args.json}")


ISSUE_ACCESS_SCRIPT = """
from gateway.services import token_pair_issue, user_link_from_claims
user = user_link_from_claims(claims={"sub": "bench", "email": "bench@example.com"})
print(token_pair_issue(user=user).access)
"""


def arguments() -> argparse.Namespace:
    parser = harness.parser(__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="load time per target/read")
    parser.add_argument("--rounds", type=int, default=10, help="alternate the targets this often")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds per target, unmeasured")
    parser.add_argument("--clients", type=int, default=4, help="concurrent keep-alive clients")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers per server")
    parser.add_argument(
        "--gateway-workers", type=int, help="gunicorn workers of the gateway (default: --workers)"
    )
    parser.add_argument("--products", type=int, default=20_000, help="products in the catalog")
    parser.add_argument(
        "--reads", default=",".join(READS), help=f"comma-separated, of: {', '.join(READS)}"
    )
    parser.add_argument(
        "--catalog-python",
        default=str(ROOT / ".venvs" / "catalog" / "bin" / "python"),
        help="the catalog's interpreter (scripts/ensure-venv .venvs/catalog ...)",
    )
    parser.add_argument(
        "--bare-proxy",
        action="store_true",
        help="also measure bench/gateway/bare_proxy.py (the same server and client as the "
        "gateway, doing nothing else) in front of the catalog: the floor of any such proxy",
    )
    parser.add_argument(
        "--traced",
        action="store_true",
        help="also measure a gateway and catalog with tracing on at full sampling, exporting to "
        "a local OTLP/HTTP sink, against the untraced pair",
    )
    parser.add_argument(
        "--slow-clients",
        action="store_true",
        help="instead: hold slow-header and slow-body connections open (from 127.0.0.2) and "
        "measure /healthz and average_price through the gateway meanwhile",
    )
    args = parser.parse_args()
    if args.smoke:
        args.seconds, args.rounds, args.warmup, args.products, args.clients = 0.6, 2, 0.2, 300, 2
    args.reads = [read.strip() for read in args.reads.split(",") if read.strip()]
    unknown = set(args.reads) - set(READS)
    if unknown:
        parser.error(f"unknown reads: {', '.join(sorted(unknown))}")
    if not Path(args.catalog_python).exists():
        parser.error(f"no catalog interpreter at {args.catalog_python}")
    return args


def start_gateway(
    args: argparse.Namespace, scratch: Path, database: str, catalog_port: int
) -> tuple[Server, dict[str, str]]:
    """Migrate the gateway's database, make its signing key and serve it; return it and its env."""
    port = free_port()
    key = scratch / "jwt.pem"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": f"{DATABASE_SERVER}/{database}_gateway",
        "JWT_PRIVATE_KEY_FILE": str(key),
        "JWT_ISSUER": f"http://127.0.0.1:{port}",
        "CATALOG_URL": f"http://127.0.0.1:{catalog_port}",
        "RATE_LIMIT": "100000000/m",  # counted on every call, never reached
        "LOG_LEVEL": "WARNING",
    }
    if args.slow_clients:
        env.update(
            EDGE_HEADER_TIMEOUT_SECONDS=str(SLOW[args.smoke]["header_deadline"]),
            EDGE_BODY_TIMEOUT_SECONDS=str(SLOW[args.smoke]["body_deadline"]),
            # Every slow connection is held (none refused by the per-address cap), so that
            # what is measured is the server holding them.
            EDGE_MAX_CONNECTIONS_PER_CLIENT="0",
        )
    for command in (["migrate", "-v0"], ["generate_signing_key", str(key)]):
        harness.setup_step([sys.executable, "manage.py", *command], cwd=GATEWAY, env=env)
    command = gunicorn(
        sys.executable, "config.asgi:application", port, args.gateway_workers or args.workers
    )
    log = scratch / "gateway.log"
    return Server("gateway", command, cwd=GATEWAY, env=env, log=log, port=port), env


def start_catalog(
    args: argparse.Namespace, scratch: Path, database: str, gateway_url: str, port: int
) -> tuple[Server, dict[str, str]]:
    """Migrate the catalog's database, import the generated products and serve it."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": f"{DATABASE_SERVER}/{database}",
        "AUTH_JWKS_URL": f"{gateway_url}/.well-known/jwks.json",
        "AUTH_ISSUER": gateway_url,
        "AUTH_AUDIENCE": "ecomms",
        "LOG_LEVEL": "WARNING",
    }
    manage = [args.catalog_python, "manage.py"]
    harness.setup_step([*manage, "migrate", "-v0"], cwd=CATALOG, env=env)
    products = scratch / "products.json"
    products.write_text(json.dumps({"products": generated_products(args.products)}))
    harness.setup_step(
        [*manage, "import_catalog", str(products), "--no-progress"], cwd=CATALOG, env=env
    )
    command = gunicorn(args.catalog_python, "config.wsgi:application", port, args.workers)
    return Server("catalog", command, cwd=CATALOG, env=env, log=scratch / "catalog.log"), env


def access_token(gateway_env: dict[str, str]) -> str:
    return harness.setup_step(
        [sys.executable, "manage.py", "shell", "-c", ISSUE_ACCESS_SCRIPT],
        cwd=GATEWAY,
        env=gateway_env,
    ).stdout.splitlines()[-1]


def direct_and_proxied(catalog_port: int, gateway_port: int, bearer: dict) -> list[Target]:
    """The catalog sent straight and through the gateway, anonymous and with a bearer token."""
    return [
        Target("catalog, anonymous", catalog_port, {}),
        Target(
            "gateway, anonymous", gateway_port, {}, baseline="catalog, anonymous", proxy="gateway"
        ),
        # The catalog checks a token itself too: sent straight, the same read with the same
        # token is what the gateway's bearer-token read is compared with.
        Target("catalog, bearer token", catalog_port, bearer),
        Target(
            "gateway, bearer token",
            gateway_port,
            bearer,
            baseline="catalog, bearer token",
            proxy="gateway",
        ),
    ]


def main() -> None:
    args = arguments()
    database = f"gateway_bench_{os.getpid()}"
    servers: list[Server] = []
    servers_extra: list[subprocess.Popen] = []  # not measured: the traced pair's OTLP sink
    load_before = os.getloadavg()
    with (
        harness.scratch_folder("ecomms-gateway-bench-") as scratch,
        harness.throwaway_databases(database, f"{database}_gateway"),
    ):
        try:
            catalog_port = free_port()
            gateway, gateway_env = start_gateway(args, scratch, database, catalog_port)
            servers.append(gateway)
            catalog, catalog_env = start_catalog(
                args, scratch, database, gateway_env["JWT_ISSUER"], catalog_port
            )
            servers.append(catalog)
            wait_until_up(gateway.port, "/healthz")
            wait_until_up(catalog_port, "/healthz")
            bearer = {"Authorization": f"Bearer {access_token(gateway_env)}"}
            paths = read_paths(catalog_port)
            targets = direct_and_proxied(catalog_port, gateway.port, bearer)
            if args.bare_proxy:
                targets.append(bare_proxy(scratch, catalog_port, args.workers, servers))
            if args.traced:
                targets.append(
                    traced_pair(
                        args, scratch, gateway_env, catalog_env, servers, sinks=servers_extra
                    )
                )
            if args.slow_clients:
                slow_clients(args, gateway.port, paths, bearer, servers, load_before)
                return
            check_same_answers(targets, paths)
            measured = measure(args, targets, paths, servers)
            rss = {}
            for server in servers:
                rss.update(server.rss_mb())
        finally:
            for server in servers:
                server.stop()
            for process in servers_extra:
                process.terminate()
                process.wait(timeout=10)
    load_after = os.getloadavg()

    report(args, targets, measured, rss, load_before, load_after)


def bare_proxy(scratch: Path, catalog_port: int, workers: int, servers: list[Server]) -> Target:
    """Start bench/gateway/bare_proxy.py in front of the catalog; return its target."""
    port = free_port()
    command = gunicorn(sys.executable, "bench.gateway.bare_proxy:app", port, workers)
    servers.append(
        Server(
            "bare proxy",
            [*command, "--worker-class", "uvicorn_worker.UvicornWorker"],
            cwd=ROOT,
            env={**os.environ, "BARE_PROXY_UPSTREAM": f"http://127.0.0.1:{catalog_port}"},
            log=scratch / "bare-proxy.log",
        )
    )
    wait_until_up(port, "/healthz")
    return Target(
        "bare proxy, anonymous", port, {}, baseline="catalog, anonymous", proxy="bare proxy"
    )


def traced_pair(
    args: argparse.Namespace,
    scratch: Path,
    gateway_env: dict[str, str],
    catalog_env: dict[str, str],
    servers: list[Server],
    *,
    sinks: list[subprocess.Popen],
) -> Target:
    """Start a gateway and a catalog like the measured ones (same databases, same key) with
    tracing on at full sampling, exporting to an OTLP/HTTP sink; return the traced target."""
    sink, tracing = harness.otlp_sink()
    sinks.append(sink)
    gateway_port, catalog_port = free_port(), free_port()
    for name, port, command, cwd, env in (
        (
            "catalog traced",
            catalog_port,
            gunicorn(args.catalog_python, "config.wsgi:application", catalog_port, args.workers),
            CATALOG,
            catalog_env,
        ),
        (
            "gateway traced",
            gateway_port,
            gunicorn(
                sys.executable,
                "config.asgi:application",
                gateway_port,
                args.gateway_workers or args.workers,
            ),
            GATEWAY,
            {**gateway_env, "CATALOG_URL": f"http://127.0.0.1:{catalog_port}"},
        ),
    ):
        log = scratch / f"{name.replace(' ', '-')}.log"
        servers.append(Server(name, command, cwd=cwd, env={**env, **tracing}, log=log))
        wait_until_up(port, "/healthz")
    return Target(
        "gateway traced, anonymous",
        gateway_port,
        {},
        baseline="gateway, anonymous",
        proxy="gateway traced",
        catalog="catalog traced",
    )


def check_same_answers(targets: list[Target], paths: dict[str, list[str]]) -> None:
    """Refuse to measure unless every target gives the same answer to each read."""
    for read_paths_ in paths.values():
        for path in read_paths_[:3]:
            # Absolute links (a page's next/previous) name the catalog or, once it believes the
            # gateway's X-Forwarded-Host, the gateway.
            answers = {
                (status, _any_origin(body, targets))
                for target in targets
                for status, body in [get(target.port, path, target.headers)]
            }
            if len(answers) != 1 or next(iter(answers))[0] != 200:
                statuses = sorted(status for status, _ in answers)
                first, second = sorted(body for _, body in answers)[:2]
                at = next(
                    (i for i, (a, b) in enumerate(zip(first, second, strict=False)) if a != b), 0
                )
                raise SystemExit(
                    f"bench: targets differ on {path}: statuses {statuses}, bodies from byte "
                    f"{at}: {first[at : at + 60]!r} / {second[at : at + 60]!r}"
                )


def _any_origin(body: bytes, targets: list[Target]) -> bytes:
    for port in {target.port for target in targets}:
        body = body.replace(f"127.0.0.1:{port}".encode(), b"<origin>")
    return body


def measure(
    args: argparse.Namespace,
    targets: list[Target],
    paths: dict[str, list[str]],
    servers: list[Server],
) -> dict[tuple[str, str], Measured]:
    measured = {(read, target.name): Measured() for read in args.reads for target in targets}
    for read in args.reads:
        for target in targets:  # warm up connections, workers and caches
            load(target, paths[read], seconds=args.warmup, clients=args.clients)
        for number in range(args.rounds):
            # A rotating order: neither a noisy neighbour nor a round's position favours one.
            shift = number % len(targets)
            for target in targets[shift:] + targets[:shift]:
                cpu_before = {server.name: server.cpu_seconds() for server in servers}
                round_ = load(
                    target,
                    paths[read],
                    seconds=args.seconds / args.rounds,
                    clients=args.clients,
                )
                round_.cpu = {
                    server.name: server.cpu_seconds() - cpu_before[server.name]
                    for server in servers
                }
                measured[read, target.name].add(round_)
        for target in targets:
            if not measured[read, target.name].latencies:
                raise SystemExit(f"bench: no successful {read} read from {target.name}")
    return measured


def report(
    args: argparse.Namespace,
    targets: list[Target],
    measured: dict[tuple[str, str], Measured],
    rss: dict[str, float],
    load_before: tuple[float, float, float],
    load_after: tuple[float, float, float],
) -> None:
    figures: list[dict[str, Any]] = []
    print(
        f"\n{args.clients} clients, {args.seconds:g} s per target and read in {args.rounds} "
        f"alternating rounds; {args.workers} gunicorn workers per server; {args.products} "
        f"products; {os.cpu_count()} CPUs; load average {load_before[0]:.2f} before, "
        f"{load_after[0]:.2f} after\n"
    )
    print(
        f"{'read':14} {'target':26} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'p50 vs catalog':>14} {'CPU ms/call: catalog':>21} {'proxy':>7} {'errors':>6}  "
        "target"
    )
    for read in args.reads:
        for target in targets:
            seen = measured[read, target.name]
            base = measured[read, target.baseline] if target.baseline else None
            base_catalog = next((t.catalog for t in targets if t.name == target.baseline), "")
            p50, p99, rps = seen.percentile_ms(0.5), seen.percentile_ms(0.99), seen.rps
            ratio = None if base is None else p50 / base.percentile_ms(0.5)
            met = None if ratio is None else _p50_met(target, ratio)
            verdict = "" if met is None else ("met" if met else "MISSED")
            ratio_text = "" if ratio is None else f"{ratio:.2f}x ({ratio - 1:+.0%})"
            catalog_cpu = seen.cpu_ms_per_call(target.catalog)
            proxy_cpu = seen.cpu_ms_per_call(target.proxy) if target.proxy else 0.0
            print(
                f"{read:14} {target.name:26} {rps:7.0f} {p50:7.2f} {p99:7.2f} "
                f"{ratio_text:>14} {catalog_cpu:21.2f} {proxy_cpu:7.2f} {seen.failures:6d}  "
                f"{verdict}"
            )
            for measure_, value, unit, baseline in (
                ("req/s", rps, "req/s", base and base.rps),
                ("p50", p50, "ms", base and base.percentile_ms(0.5)),
                ("p99", p99, "ms", base and base.percentile_ms(0.99)),
                (
                    "catalog CPU per call",
                    catalog_cpu,
                    "ms",
                    base and base.cpu_ms_per_call(base_catalog),
                ),
                ("proxy CPU per call", proxy_cpu, "ms", None),
            ):
                goal, reached = _target(args, read, target, measure_, value, baseline)
                figures.append(
                    shared_report.figure(
                        f"{measure_} {read}, {target.name}",
                        value,
                        unit,
                        baseline=baseline,
                        baseline_label=f"{read}, {target.baseline}" if baseline is not None else "",
                        target=goal,
                        met=reached,
                    )
                )
    for moment, value in (("before", load_before[0]), ("after", load_after[0])):
        figures.append(shared_report.figure(f"load average (1 min) {moment}", value, ""))
    print("\nresident memory (MiB): " + ", ".join(f"{name} {mb:g}" for name, mb in rss.items()))
    if args.json:
        shared_report.write(
            args.json,
            shared_report.result(
                "gateway",
                config={
                    "products": args.products,
                    "seconds": args.seconds,
                    "rounds": args.rounds,
                    "clients": args.clients,
                    "workers": args.workers,
                    "reads": args.reads,
                },
                figures=figures,
                rss_mb=rss,
                samples_ms={
                    f"{read}, {name}": [sample * 1000 for sample in seen.latencies]
                    for (read, name), seen in measured.items()
                },
            ),
        )
        print(f"written: {args.json}")


def _target(
    args: argparse.Namespace,
    read: str,
    target: Target,
    measure_: str,
    value: float,
    baseline: float | None,
) -> tuple[str | None, bool | None]:
    """Return the target a gateway figure is held to and whether it is met (None, None if none).

    Held to by the gateway only (the bare proxy is a reference): p50 within P50_TARGET of the
    catalog's, its CPU per call within GATEWAY_CPU_TARGET_MS, and, with THROUGHPUT_CLIENTS
    clients, average_price throughput at least THROUGHPUT_TARGET of the catalog's.
    """
    if target.proxy == "gateway traced" and measure_ == "p50" and baseline:
        return (
            f"<= {TRACED_P50_TARGET:.2f}x untraced gateway p50",
            value / baseline <= TRACED_P50_TARGET,
        )
    if target.proxy != "gateway":
        return None, None
    if measure_ == "p50" and baseline:
        return f"<= {P50_TARGET:.2f}x catalog p50", value / baseline <= P50_TARGET
    if measure_ == "proxy CPU per call":
        return f"<= {GATEWAY_CPU_TARGET_MS} ms", value <= GATEWAY_CPU_TARGET_MS
    if (
        measure_ == "req/s"
        and baseline
        and read == "average_price"
        and args.clients == THROUGHPUT_CLIENTS
    ):
        return f">= {THROUGHPUT_TARGET:.2f}x catalog", value / baseline >= THROUGHPUT_TARGET
    return None, None


def _p50_met(target: Target, ratio: float) -> bool | None:
    """Whether a p50 ratio meets its target: the gateway's, or tracing's (None: no target)."""
    limit = {"gateway": P50_TARGET, "gateway traced": TRACED_P50_TARGET}.get(target.proxy or "")
    return None if limit is None else ratio <= limit


if __name__ == "__main__":
    main()
