"""Catalog benchmark: average_price against the naive query, upload against a naive loop.

Run from the repository root with the catalog's virtual environment:

    .venvs/catalog/bin/python -m bench.catalog.run [--products 1000000] [--requests 20000]
        [--json var/bench/catalog.json] [--smoke]

It creates (and drops) a PostgreSQL database of its own, serves the catalog with gunicorn on an
ephemeral 127.0.0.1 port (the service's own gunicorn.conf.py, 2 workers), uploads a generated
catalog through ``POST /products/upload/`` (10,000 products a request, from four clients at
once), then loads
``GET /categories/{slug}/average_price/`` over keep-alive connections and runs the naive EXISTS
query on the same data. Every figure is printed next to its in-run baseline.
"""

import gc
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

from bench import harness, report
from bench.harness import SERVER, Client, percentile, run_threads

ROOT = Path(__file__).resolve().parents[2]
SERVICE = ROOT / "services" / "catalog"

# below the root: 1 + 6 + 30 + 120 + 480 + 1,440 + 4,320 = 6,397 categories, 7 levels
BRANCHING = [6, 5, 4, 4, 3, 3]
WORKERS = 2
TARGET_SPEEDUP = 200
TARGET_P99_MS = 20
TARGET_UPLOAD_RATE = 20_000
TARGET_MILLION_SECONDS = 60
TARGET_LIST_CPU_MS = 2.0
TARGET_DETAIL_CPU_MS = 1.0
# Uploads of new products under existing categories run side by side (catalog.services): two
# clients per worker, so that both workers have one whichever worker each connection lands on.
UPLOAD_CLIENTS = 4

NAIVE_SQL = """
SELECT COUNT(*), AVG(p.price) FROM catalog_product p
WHERE p.currency = 'USD' AND EXISTS (
    SELECT 1 FROM catalog_product_categories pc
    JOIN catalog_category c ON c.id = pc.category_id
    WHERE pc.product_id = p.id AND c.tree_id = %s AND c.lft BETWEEN %s AND %s)
"""


def leaf_paths() -> list[list[str]]:
    paths = [["All Products"]]
    for depth, fanout in enumerate(BRANCHING):
        paths = [[*path, f"L{depth + 1}-{i}"] for path in paths for i in range(fanout)]
    return paths


def generate(count: int, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    leaves = leaf_paths()
    products = []
    for i in range(count):
        paths = [rng.choice(leaves)]
        if i % 4 == 0:  # a quarter of the products sit in two categories
            paths.append(rng.choice(leaves))
        products.append(
            {
                "name": f"Product {i}",
                "price": f"{rng.randint(50, 50000) / 100:.2f}",
                "currency": "USD",
                "sku": f"BENCH-{i}",
                "categories": paths,
            }
        )
    return products


def naive_queries(conn, categories) -> tuple[list[float], list[int]]:
    """Run the naive query once per category; return the times (ms) and the counts."""
    times, counts = [], []
    for _, tree_id, lft, rght, _ in categories:
        started = time.perf_counter()
        count, _ = conn.execute(NAIVE_SQL, (tree_id, lft, rght)).fetchone()
        times.append((time.perf_counter() - started) * 1000)
        counts.append(count)
    return times, counts


def naive_loop_rate(env: dict, products: list[dict]) -> float:
    """Products/s of one ORM save (and categories.add) per product, in a fresh process."""
    code = """
import json, sys, time, django
django.setup()
from catalog.models import Category, Product
products = json.load(sys.stdin)
started = time.perf_counter()
for item in products:
    parent = None
    leaves = []
    for path in item["categories"]:
        parent = None
        for name in path:
            parent, _ = Category.objects.get_or_create(name=name, parent=parent, defaults={
                "slug": f"naive-{name}-{parent.pk if parent else 0}".lower()})
        leaves.append(parent)
    product = Product.objects.create(name=item["name"], price=item["price"],
        currency=item["currency"], sku="NAIVE-" + item["sku"])
    product.categories.add(*leaves)
print(len(products) / (time.perf_counter() - started))
"""
    result = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps(products),
        capture_output=True,
        text=True,
        cwd=SERVICE,
        env=env,
        check=True,
    )
    return float(result.stdout.strip().splitlines()[-1])


def load(
    port: int, paths: list[str], total: int, threads: int
) -> tuple[float, list[tuple[int, float]]]:
    """GET total requests over the paths from several threads.

    Return requests/s and, per request, (index of its path, latency in ms).
    """
    latencies: list[tuple[int, float]] = []
    lock = threading.Lock()
    counter = iter(range(total))

    def worker() -> None:
        client, mine = Client(port, timeout=10), []
        for number in counter:
            index = number % len(paths)
            started = time.perf_counter()
            client.request("GET", paths[index])
            mine.append((index, (time.perf_counter() - started) * 1000))
        client.close()
        with lock:
            latencies.extend(mine)

    return total / run_threads(worker, threads), latencies


def cpu_per_call(server_pid: int, port: int, paths: list[str], calls: int) -> float:
    """Return the server's CPU milliseconds per call over ``calls`` GETs of these paths, from
    four clients (its process tree's CPU time, as bench/gateway measures it)."""
    load(port, paths, min(200, calls), 4)  # warm
    before = report.cpu_seconds(server_pid)
    load(port, paths, calls, 4)
    return (report.cpu_seconds(server_pid) - before) / calls * 1000


def upload_all(
    port: int, bodies: list[bytes], token: str, clients: int = 1
) -> tuple[float, list[float]]:
    """POST every body, from several clients at once; return (seconds, latencies in ms)."""
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    latencies: list[float] = []
    failures: list[Exception] = []
    lock = threading.Lock()
    todo = iter(bodies)

    def worker() -> None:
        client = Client(port, timeout=300)
        try:
            while True:
                with lock:
                    body = next(todo, None)
                if body is None or failures:
                    return
                started = time.perf_counter()
                client.request("POST", "/products/upload/", body=body, headers=headers)
                with lock:
                    latencies.append((time.perf_counter() - started) * 1000)
        except Exception as exc:  # raised below, in the caller's thread
            failures.append(exc)
        finally:
            client.close()

    seconds = run_threads(worker, clients)
    if failures:
        raise failures[0]
    return seconds, latencies


@dataclass(frozen=True)
class Served:
    port: int
    process: subprocess.Popen
    admin_token: str
    env: dict[str, str]


@contextmanager
def catalog_served(database: str) -> Iterator[Served]:
    """Serve the catalog with gunicorn on a fresh database; drop both however the block ends."""
    from ecomms_standins.jwks import LocalJWKS

    port = harness.free_port()
    with closing(LocalJWKS()) as jwks, harness.throwaway_databases(database) as (url,):
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "AUTH_JWKS_URL": jwks.url,
            "AUTH_ISSUER": jwks.issuer,
            "AUTH_AUDIENCE": jwks.audience,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "WEB_CONCURRENCY": str(WORKERS),
            "GUNICORN_TIMEOUT": "300",
            "LOG_LEVEL": "WARNING",
        }
        python = Path(sys.executable)
        subprocess.run([python, "manage.py", "migrate", "-v0"], cwd=SERVICE, env=env, check=True)
        serve = [python.parent / "gunicorn", "config.wsgi:application"]
        gunicorn = subprocess.Popen(
            [*serve, "--access-logfile", "/dev/null"],
            cwd=SERVICE,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            harness.wait_until_up(port, "/healthz", deadline=30)
            admin = jwks.mint(roles=["customer", "admin"], ttl=24 * 3600)
            yield Served(port, gunicorn, admin, env)
        finally:
            gunicorn.send_signal(signal.SIGTERM)
            gunicorn.wait(timeout=60)


def arguments():
    parser = harness.parser()
    parser.add_argument("--products", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--naive-sample", type=int, default=3000)
    parser.add_argument("--chunk", type=int, default=10_000)
    args = parser.parse_args()
    args.database = "catalog_bench"
    if args.smoke:
        args.products, args.requests, args.naive_sample = 3000, 400, 50
        args.chunk = 1000
        args.database = f"catalog_bench_smoke_{os.getpid()}"
    return args


def upload_generated(served: Served, args) -> tuple[float, list[float]]:
    """Upload the generated catalog in chunks; return (seconds, latencies in ms)."""
    products = generate(args.products)
    bodies = [
        json.dumps({"products": products[start : start + args.chunk]}).encode()
        for start in range(0, len(products), args.chunk)
    ]
    del products
    return upload_all(served.port, bodies, served.admin_token, clients=UPLOAD_CLIENTS)


def naive_baseline(database: str) -> dict:
    """Run the naive query over the large subtrees, before and after VACUUM ANALYZE."""
    with psycopg.connect(f"{SERVER}/{database}", autocommit=True) as conn:
        categories = conn.execute(
            "SELECT slug, tree_id, lft, rght, level FROM catalog_category ORDER BY id"
        ).fetchall()
        # the large subtrees (the top three levels) are where the naive query hurts
        large = [row for row in categories if row[4] <= 2]
        # right after the load, then as autovacuum would leave the tables soon after (the
        # visibility map lets the naive query scan indexes only): the baseline is the latter
        fresh_ms, _ = naive_queries(conn, large)
        conn.execute("VACUUM ANALYZE")
        naive_ms, subtree_sizes = naive_queries(conn, large)
        first = conn.execute(NAIVE_SQL, categories[0][1:4]).fetchone()
    return {
        "categories": categories,
        "large": large,
        "fresh_ms": fresh_ms,
        "naive_ms": naive_ms,
        "subtree_sizes": subtree_sizes,
        "first": first,
    }


def root_checked(port: int, first: tuple) -> dict:
    """Return the root's average_price, refusing to go on if it counts otherwise than naive."""
    root_path = "/categories/all-products/average_price/"
    root = json.loads(Client(port, timeout=10).request("GET", root_path))
    if root["product_count"] != first[0]:
        raise SystemExit(f"bench: the root's product_count {root} differs from naive {first}")
    return root


def paths_of(rows) -> list[str]:
    return [f"/categories/{row[0]}/average_price/" for row in rows]


def served_load(served: Served, args, categories: list, large: list) -> dict:
    """Latency, throughput and CPU per call of the served catalog."""
    port, pid = served.port, served.process.pid
    # latency over the same large categories: one client, as the naive query ran (one at a
    # time), then as many clients as workers
    load(port, paths_of(large), max(200, args.requests // 40), WORKERS)  # warm-up
    _, timed = load(port, paths_of(large), args.requests // 4, 1)
    _, timed_busy = load(port, paths_of(large), args.requests // 4, WORKERS)
    # throughput: more clients than workers, over every category
    rate, _ = load(port, paths_of(categories), args.requests, args.threads)
    # catalog CPU per call: a page of 20 of a category, a product's detail (4 clients; both
    # answered ahead of Django, catalog.api.fast_reads), beside GET /healthz's (Django's floor)
    lists = [f"/products/?category={row[0]}&page_size=20" for row in categories]
    details = [f"/products/{pk}/" for pk in range(1, args.products + 1, 997)]
    return {
        "timed": timed,
        "busy": [ms for _, ms in timed_busy],
        "rate": rate,
        "floor_cpu": cpu_per_call(pid, port, ["/healthz"], args.requests // 4),
        "list_cpu": cpu_per_call(pid, port, lists, args.requests // 4),
        "detail_cpu": cpu_per_call(pid, port, details, args.requests // 4),
        "rss": {f"catalog (gunicorn, {WORKERS} workers)": report.rss_mb(pid)},
    }


def main() -> None:
    args = arguments()
    with catalog_served(args.database) as served:
        upload_seconds, upload_ms = upload_generated(served, args)
        # the load below must not be timed with this process's collector walking what is left
        gc.collect()
        gc.freeze()
        naive = naive_baseline(args.database)
        root = root_checked(served.port, naive["first"])
        seen = served_load(served, args, naive["categories"], naive["large"])
        # last: the naive loop writes products the aggregates do not know about
        naive_rate_loop = naive_loop_rate(served.env, generate(args.naive_sample, seed=99))

    seen["latencies"] = [ms for _, ms in seen["timed"]]
    figures = catalog_figures(args, naive, seen, upload_seconds, naive_rate_loop)
    print(
        f"catalog: {args.products:,} products, {len(naive['categories']):,} categories, "
        f"{len(BRANCHING) + 1} levels, a quarter of the products in two categories; "
        f"load average at the end {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    harness.print_figures("catalog", figures)
    print(
        f"root check: {root['product_count']:,} products, average {root['average_price']} USD; "
        f"the naive query counts {naive['first'][0]:,}"
    )
    if args.json:
        report.write(
            args.json,
            report.result(
                "catalog",
                config={
                    "products": args.products,
                    "categories": len(naive["categories"]),
                    "levels": len(BRANCHING) + 1,
                    "chunk": args.chunk,
                    "workers": WORKERS,
                    "smoke": args.smoke,
                },
                figures=figures,
                rss_mb=seen["rss"],
                samples_ms={
                    "catalog average_price (one client)": seen["latencies"],
                    f"catalog average_price ({WORKERS} clients)": seen["busy"],
                    "catalog naive EXISTS query": naive["naive_ms"],
                    "catalog naive EXISTS query before VACUUM": naive["fresh_ms"],
                    f"catalog upload, {args.chunk:,} products a request": upload_ms,
                },
            ),
        )


def catalog_figures(
    args, naive: dict, seen: dict, upload_seconds: float, naive_rate_loop: float
) -> list[dict]:
    """The catalog's figures, each beside its in-run baseline."""
    large, naive_ms, subtree_sizes = naive["large"], naive["naive_ms"], naive["subtree_sizes"]
    timed, latencies, busy = seen["timed"], seen["latencies"], seen["busy"]
    list_cpu, detail_cpu, rate = seen["list_cpu"], seen["detail_cpu"], seen["rate"]
    floor_cpu = seen["floor_cpu"]
    fresh_ms = naive["fresh_ms"]
    upload_rate = args.products / upload_seconds
    p50, p99 = percentile(latencies, 0.50), percentile(latencies, 0.99)
    naive_p50 = statistics.median(naive_ms)
    # the same comparison level by level: the naive query costs more the larger the subtree
    by_level = []
    for level in range(3):
        indexes = {i for i, row in enumerate(large) if row[4] == level}
        level_p50 = statistics.median(ms for i, ms in timed if i in indexes)
        level_naive = statistics.median(naive_ms[i] for i in indexes)
        by_level.append(
            report.figure(
                f"average_price p50, level {level} ({len(indexes)} categories of "
                f"{statistics.median(subtree_sizes[i] for i in indexes):,.0f} products)",
                level_p50,
                "ms",
                baseline=level_naive,
                baseline_label="naive EXISTS query, median",
                ratio=level_naive / level_p50,
            )
        )
    naive_rate = 1000 / statistics.mean(naive_ms)
    million = args.products >= 1_000_000
    return [
        report.figure(
            "list page of 20, catalog CPU per call (4 clients)",
            list_cpu,
            "ms",
            baseline=floor_cpu,
            baseline_label="GET /healthz, Django's floor (same server)",
            target=f"<= {TARGET_LIST_CPU_MS} ms",
            met=list_cpu <= TARGET_LIST_CPU_MS,
        ),
        report.figure(
            "product detail, catalog CPU per call (4 clients)",
            detail_cpu,
            "ms",
            baseline=floor_cpu,
            baseline_label="GET /healthz, Django's floor (same server)",
            target=f"<= {TARGET_DETAIL_CPU_MS} ms",
            met=detail_cpu <= TARGET_DETAIL_CPU_MS,
        ),
        report.figure(
            "average_price p50, top-3-level categories (one client)",
            p50,
            "ms",
            baseline=naive_p50,
            baseline_label="naive EXISTS query, median",
            ratio=naive_p50 / p50,
            target=f">= {TARGET_SPEEDUP}x faster",
            met=naive_p50 / p50 >= TARGET_SPEEDUP,
        ),
        *by_level,
        report.figure(
            "naive EXISTS query right after the load, before VACUUM ANALYZE (median)",
            statistics.median(fresh_ms),
            "ms",
        ),
        report.figure(
            "average_price p99, top-3-level categories (one client)",
            p99,
            "ms",
            baseline=max(naive_ms),
            baseline_label="naive EXISTS query, slowest",
            ratio=max(naive_ms) / p99,
            target=f"< {TARGET_P99_MS} ms",
            met=p99 < TARGET_P99_MS,
        ),
        report.figure(
            f"average_price p50, top-3-level categories ({WORKERS} clients)",
            percentile(busy, 0.50),
            "ms",
            baseline=naive_p50,
            baseline_label="naive EXISTS query, median",
            ratio=naive_p50 / percentile(busy, 0.50),
        ),
        report.figure(
            f"average_price p99, top-3-level categories ({WORKERS} clients)",
            percentile(busy, 0.99),
            "ms",
            target=f"< {TARGET_P99_MS} ms",
            met=percentile(busy, 0.99) < TARGET_P99_MS,
        ),
        report.figure(
            f"average_price throughput, all categories ({args.threads} clients)",
            rate,
            "req/s",
            baseline=naive_rate,
            baseline_label="naive EXISTS queries/s, top 3 levels",
        ),
        report.figure(
            f"upload through POST /products/upload/ ({UPLOAD_CLIENTS} clients)",
            upload_rate,
            "products/s",
            baseline=naive_rate_loop,
            baseline_label="one ORM save per product",
            target=f">= {TARGET_UPLOAD_RATE:,}/s",
            met=upload_rate >= TARGET_UPLOAD_RATE,
        ),
        report.figure(
            f"upload of all {args.products:,} products, aggregates included",
            upload_seconds,
            "s",
            target=f"< {TARGET_MILLION_SECONDS} s for 1,000,000" if million else None,
            met=upload_seconds < TARGET_MILLION_SECONDS if million else None,
        ),
    ]


if __name__ == "__main__":
    main()
