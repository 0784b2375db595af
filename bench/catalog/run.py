"""Catalog benchmark: average_price against the naive query, upload against a naive loop.

Run from the repository root with the catalog's virtual environment:

    .venvs/catalog/bin/python bench/catalog/run.py [--products 1000000] [--requests 20000]

It creates (and drops) the PostgreSQL database ``catalog_bench``, serves the catalog with gunicorn
on an ephemeral 127.0.0.1 port, uploads a generated catalog through ``POST /products/upload/``
(10,000 products a request), then loads ``GET /categories/{slug}/average_price/`` and runs the
naive EXISTS query on the same data. Every figure is printed next to its in-run baseline.
"""

import argparse
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[2]
SERVICE = ROOT / "services" / "catalog"
SERVER = os.environ.get("BENCH_DATABASE_SERVER", "postgres://postgres@127.0.0.1:5432")
DATABASE = "catalog_bench"
# below the root: 1 + 6 + 30 + 120 + 480 + 1,440 + 4,320 = 6,397 categories, 7 levels
BRANCHING = [6, 5, 4, 4, 3, 3]

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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def recreate_database() -> None:
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DATABASE}")


def drop_database() -> None:
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")


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


def load(url_of, paths: list[str], total: int, threads: int) -> tuple[float, list[float]]:
    """GET total requests over the paths from several threads; return (req/s, latencies ms)."""
    latencies: list[float] = []
    lock = threading.Lock()
    counter = iter(range(total))

    def worker() -> None:
        mine = []
        for number in counter:
            started = time.perf_counter()
            with urllib.request.urlopen(url_of(paths[number % len(paths)]), timeout=10) as reply:
                reply.read()
                assert reply.status == 200
            mine.append((time.perf_counter() - started) * 1000)
        with lock:
            latencies.extend(mine)

    started = time.perf_counter()
    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return total / (time.perf_counter() - started), latencies


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--products", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--naive-sample", type=int, default=3000)
    parser.add_argument("--chunk", type=int, default=10_000)
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT / "libs" / "common" / "src"))
    from ecomms_common.testing import LocalJWKS

    jwks = LocalJWKS()
    admin = jwks.mint(roles=["customer", "admin"], ttl=3600)
    recreate_database()
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"{SERVER}/{DATABASE}",
        "AUTH_JWKS_URL": jwks.url,
        "AUTH_ISSUER": jwks.issuer,
        "AUTH_AUDIENCE": jwks.audience,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WEB_CONCURRENCY": "2",
        "GUNICORN_TIMEOUT": "300",
        "LOG_LEVEL": "WARNING",
    }
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=SERVICE, env=env, check=True
    )
    gunicorn = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "config.wsgi:application",
            "--access-logfile",
            "/dev/null",
        ],
        cwd=SERVICE,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        products = generate(args.products)
        bodies = [
            json.dumps({"products": products[start : start + args.chunk]}).encode()
            for start in range(0, len(products), args.chunk)
        ]
        upload_seconds = 0.0
        for body in bodies:
            request = urllib.request.Request(
                f"{base}/products/upload/",
                data=body,
                method="POST",
                headers={"Content-Type": "application/json", "Authorization": f"Bearer {admin}"},
            )
            started = time.perf_counter()
            with urllib.request.urlopen(request, timeout=300) as reply:
                assert reply.status == 201
            upload_seconds += time.perf_counter() - started
        upload_rate = args.products / upload_seconds

        with psycopg.connect(f"{SERVER}/{DATABASE}") as conn:
            categories = conn.execute(
                "SELECT slug, tree_id, lft, rght, level FROM catalog_category ORDER BY id"
            ).fetchall()
            # the large subtrees (the top three levels) are where the naive query hurts
            large = [row for row in categories if row[4] <= 2]
            naive_ms = []
            for _, tree_id, lft, rght, _ in large:
                started = time.perf_counter()
                conn.execute(NAIVE_SQL, (tree_id, lft, rght)).fetchone()
                naive_ms.append((time.perf_counter() - started) * 1000)
            first = conn.execute(NAIVE_SQL, categories[0][1:4]).fetchone()
        root = json.load(urllib.request.urlopen(f"{base}/categories/all-products/average_price/"))
        assert root["product_count"] == first[0], (root, first)

        def url_of(slug: str) -> str:
            return f"{base}/categories/{slug}/average_price/"

        # latency: as many clients as workers, over the same large categories
        load(url_of, [row[0] for row in large], 500, 2)  # warm-up
        _, latencies = load(url_of, [row[0] for row in large], args.requests // 4, 2)
        # throughput: more clients than workers, over every category
        rate, _ = load(url_of, [row[0] for row in categories], args.requests, args.threads)
        # last: the naive loop writes products the aggregates do not know about
        naive_rate_loop = naive_loop_rate(env, generate(args.naive_sample, seed=99))
    finally:
        gunicorn.send_signal(signal.SIGTERM)
        gunicorn.wait(timeout=30)
        jwks.close()
        drop_database()

    p50, p99 = percentile(latencies, 0.50), percentile(latencies, 0.99)
    naive_p50 = statistics.median(naive_ms)
    naive_rate = 1000 / statistics.mean(naive_ms)
    print(
        f"catalog: {args.products:,} products, {len(categories):,} categories, "
        f"{len(BRANCHING) + 1} levels, a quarter of the products in two categories; "
        f"load average at the end {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    print("| measure | ecomms | baseline (same run, same data) | ratio | target |")
    print("|---|---|---|---|---|")
    print(
        f"| average_price p50, top-3-level categories | {p50:.2f} ms (2 clients) | "
        f"naive EXISTS query {naive_p50:.1f} ms | {naive_p50 / p50:,.0f}x faster | >= 200x |"
    )
    print(
        f"| average_price p99, same | {p99:.2f} ms | naive max {max(naive_ms):,.0f} ms (root) | "
        f"| < 20 ms |"
    )
    print(
        f"| average_price throughput, all categories | {rate:,.0f} req/s ({args.threads} "
        f"clients, 2 gunicorn workers) | naive {naive_rate:.1f} queries/s (top 3 levels) | "
        f"{rate / naive_rate:,.0f}x | |"
    )
    print(
        f"| upload through POST /products/upload/ | {upload_rate:,.0f} products/s "
        f"({upload_seconds:.1f} s for {args.products:,}, aggregates included) | one ORM save per "
        f"product {naive_rate_loop:,.0f} products/s | {upload_rate / naive_rate_loop:,.1f}x | "
        f">= 20,000/s, 1M < 60 s |"
    )
    print(
        f"root check: {root['product_count']:,} products, average {root['average_price']} USD; "
        f"the naive query counts {first[0]:,}"
    )


if __name__ == "__main__":
    main()
