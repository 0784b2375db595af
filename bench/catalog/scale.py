"""Catalog at scale: a skewed catalog of millions, browsed, listed, averaged and walked as a tree.

Run from the repository root with the catalog's virtual environment (``make bench-10m`` runs it
at 10,000,000 through scripts/bench-10m):

    .venvs/catalog/bin/python -m bench.catalog.scale [--products 10000000] [--json FILE]
        [--smoke]

It creates (and drops) its own database, serves the catalog with gunicorn (2 workers) on an
ephemeral port, builds a tree of about 20,000 categories (2-7 levels below the root, grown by
preferential attachment: a few huge branches, many small ones), and uploads products through
``POST /products/upload/`` from four clients, each product in one leaf (a quarter in two), the
leaves drawn by a Zipf law. After the first million and at the end it measures, direct to the
catalog with four clients: the first and second page (by cursor) of a tiny, a small, a mid-sized
category and the root, catalog CPU per list page of 20 and per product detail (the server's
process CPU time over the calls), ``average_price``, and the tree calls. Each figure at the end
is printed beside its figure at one million.
"""

import bisect
import itertools
import json
import os
import random
import sys
import threading
from pathlib import Path

import orjson
import psycopg

from bench import harness, report
from bench.catalog.run import (
    TARGET_DETAIL_CPU_MS,
    TARGET_LIST_CPU_MS,
    WORKERS,
    catalog_served,
    cpu_per_call,
    load,
    upload_all,
)
from bench.harness import SERVER, Client, percentile

CLIENTS = 4
UPLOAD_CLIENTS = 4
CATEGORIES = 20_000
MAX_DEPTH = 7  # levels below the root
TOP_BRANCHES = 24
CHECKPOINT = 1_000_000
TARGET_BROWSE_P99_MS = 20
TARGET_UPLOAD_RATE = 17_000
TARGET_TREE_BYTES = 50 * 1024
# The database server's settings the report names beside the figures.
SERVER_SETTINGS = ("server_version", "shared_buffers", "max_wal_size", "checkpoint_timeout")


def category_tree(count: int, seed: int = 11) -> list[list[str]]:
    """Return the leaf paths of a skewed tree of about ``count`` categories.

    Each new node joins a parent drawn in proportion to the parent's size (preferential
    attachment): the first branches grow into giants, most stay small.
    """
    rng = random.Random(seed)
    paths: list[tuple[str, ...]] = [("All Products",)]
    children: dict[int, int] = {0: 0}
    draw: list[int] = [0]  # a node appears once, plus once per descendant
    parents: list[int | None] = [None]
    for number in range(1, count):
        # a root of TOP_BRANCHES branches; below them, parents drawn by size
        parent = 0 if number <= TOP_BRANCHES else rng.choice(draw)
        while (parent == 0 and number > TOP_BRANCHES) or len(paths[parent]) > MAX_DEPTH:
            parent = rng.choice(draw)
        paths.append((*paths[parent], f"C{number}"))
        parents.append(parent)
        children[parent] = children.get(parent, 0) + 1
        children[number] = 0
        node: int | None = number
        while node is not None:
            draw.append(node)
            node = parents[node]
    return [list(path) for index, path in enumerate(paths) if not children[index]]


class Products:
    """The upload bodies, generated on demand, in chunks of 10,000 products."""

    def __init__(self, leaves: list[list[str]], seed: int = 7):
        self.rng = random.Random(seed)
        self.leaves = leaves
        order = list(range(len(leaves)))
        self.rng.shuffle(order)
        self.order = order
        weights = [1 / (rank + 1) ** 1.1 for rank in range(len(leaves))]
        self.cumulative = list(itertools.accumulate(weights))
        self.made = 0
        self.lock = threading.Lock()

    def leaf(self) -> list[str]:
        point = self.rng.random() * self.cumulative[-1]
        return self.leaves[self.order[bisect.bisect(self.cumulative, point)]]

    def chunk(self, size: int) -> bytes:
        with self.lock:
            start, self.made = self.made, self.made + size
            items = []
            for number in range(start, start + size):
                # the first products visit every leaf once, so that the tree is whole early and
                # later uploads only add products (the shared lock; catalog.services)
                paths = [self.leaves[number] if number < len(self.leaves) else self.leaf()]
                if number % 4 == 0:
                    paths.append(self.leaf())
                items.append(
                    {
                        "name": f"Product {number}",
                        "price": f"{self.rng.randint(50, 50000) / 100:.2f}",
                        "currency": "USD",
                        "sku": f"SCALE-{number}",
                        "categories": paths,
                    }
                )
        return orjson.dumps({"products": items})


def upload(port: int, token: str, products: Products, count: int, chunk: int) -> float:
    """Upload ``count`` more products; return products/s."""
    bodies = (products.chunk(chunk) for _ in range(count // chunk))
    seconds, _ = upload_all(port, LazyBodies(bodies), token, clients=UPLOAD_CLIENTS)
    return count / seconds


class LazyBodies:
    """An iterator of bodies that upload_all may share between its threads."""

    def __init__(self, bodies):
        self.bodies, self.lock = bodies, threading.Lock()

    def __iter__(self):
        return self

    def __next__(self) -> bytes:
        with self.lock:
            return next(self.bodies)


def chosen_categories(conn) -> dict[str, tuple[str, int]]:
    """Return {label: (slug, products)} for a tiny, a small, a mid-sized category and the root."""
    rows = conn.execute(
        "SELECT c.slug, s.subtree_count FROM catalog_categorypricestat s "
        "JOIN catalog_category c ON c.id = s.category_id WHERE s.currency = 'USD' "
        "AND s.subtree_count > 0 ORDER BY s.subtree_count, c.level DESC"
    ).fetchall()
    total = rows[-1][1]

    def nearest(size: int) -> tuple[str, int]:
        return min(rows, key=lambda row: (abs(row[1] - size), row[0]))

    return {
        "tiny": nearest(3),
        "small": nearest(300),
        "mid": nearest(total // 40),
        "biggest": rows[-1],
    }


def measure(
    server_pid: int, port: int, database: str, requests: int
) -> tuple[dict[str, tuple], dict[str, tuple[str, int]]]:
    """Return {measure: (value, unit, target, met)} for the catalog as it is now, and the
    categories browsed ({label: (slug, products)})."""
    with psycopg.connect(f"{SERVER}/{database}", autocommit=True) as conn:
        conn.execute("ANALYZE")
        chosen = chosen_categories(conn)
        sampled = "SELECT id FROM catalog_product TABLESAMPLE SYSTEM (1) LIMIT 2000"
        product_ids = [row[0] for row in conn.execute(sampled).fetchall()] or [
            row[0] for row in conn.execute("SELECT id FROM catalog_product LIMIT 2000").fetchall()
        ]
        slugs = [row[0] for row in conn.execute("SELECT slug FROM catalog_category").fetchall()]
    client = Client(port, timeout=30)
    browse: list[tuple[str, str]] = []
    for label, (slug, _) in chosen.items():
        first = f"/products/?category={slug}&page_size=20"
        following = json.loads(client.request("GET", first))["next"]
        browse.append((f"{label} first page", first))
        if following:
            browse.append((f"{label} second page", following.split(f":{port}", 1)[1]))
    figures: dict[str, tuple] = {}
    load(port, [path for _, path in browse], 200, CLIENTS)  # warm
    _, timed = load(port, [path for _, path in browse], requests, CLIENTS)
    for index, (label, _) in enumerate(browse):
        samples = [ms for i, ms in timed if i == index]
        p99 = percentile(samples, 0.99)
        name = f"browse {label}, {CLIENTS} clients"
        figures[f"{name} p50"] = (percentile(samples, 0.5), "ms", None, None)
        figures[f"{name} p99"] = (
            p99,
            "ms",
            f"< {TARGET_BROWSE_P99_MS} ms",
            p99 < TARGET_BROWSE_P99_MS,
        )
    rng = random.Random(3)
    list_paths = [
        f"/products/?category={slug}&page_size=20"
        for slug in rng.sample(slugs, min(500, len(slugs)))
    ]
    list_cpu = cpu_per_call(server_pid, port, list_paths, requests)
    # the same server's CPU for its cheapest answer, as the floor of any call here
    figures["GET /healthz, catalog CPU per call"] = (
        cpu_per_call(server_pid, port, ["/healthz"], requests),
        "ms",
        None,
        None,
    )
    figures["list page of 20, catalog CPU per call"] = (
        list_cpu,
        "ms",
        f"<= {TARGET_LIST_CPU_MS} ms",
        list_cpu <= TARGET_LIST_CPU_MS,
    )
    detail_cpu = cpu_per_call(
        server_pid, port, [f"/products/{pk}/" for pk in product_ids], requests
    )
    figures["product detail, catalog CPU per call"] = (
        detail_cpu,
        "ms",
        f"<= {TARGET_DETAIL_CPU_MS} ms",
        detail_cpu <= TARGET_DETAIL_CPU_MS,
    )
    averages = [
        f"/categories/{slug}/average_price/" for slug in rng.sample(slugs, min(500, len(slugs)))
    ]
    _, timed = load(port, averages, requests, CLIENTS)
    samples = [ms for _, ms in timed]
    figures[f"average_price p50, {CLIENTS} clients"] = (percentile(samples, 0.5), "ms", None, None)
    figures[f"average_price p99, {CLIENTS} clients"] = (percentile(samples, 0.99), "ms", None, None)
    tree_body = client.request("GET", "/categories/")
    figures["GET /categories/ (depth 2) size"] = (
        len(tree_body) / 1024,
        "KiB",
        f"< {TARGET_TREE_BYTES // 1024} KiB",
        len(tree_body) < TARGET_TREE_BYTES,
    )
    root = chosen["biggest"][0]
    for name, path, count in [
        ("GET /categories/ (depth 2)", "/categories/", 200),
        ("GET /categories/{root}/children/", f"/categories/{root}/children/", 200),
        ("GET /categories/export/ (5,000 a page)", "/categories/export/", 20),
    ]:
        _, timed = load(port, [path], count, 1)
        samples = [ms for _, ms in timed]
        figures[f"{name} p50, one client"] = (percentile(samples, 0.5), "ms", None, None)
    client.close()
    return figures, chosen


SECTION_START = "<!-- catalog at scale: bench/catalog/scale.py writes this section -->"
SECTION_END = "<!-- end of catalog at scale -->"


def write_section(page: Path, lines: list[str]) -> None:
    """Replace (or add at the end) this bench's section of a Markdown page."""
    text = page.read_text() if page.exists() else ""
    section = "\n".join([SECTION_START, "## Catalog at scale", "", *lines, SECTION_END])
    if SECTION_START in text and SECTION_END in text:
        before, rest = text.split(SECTION_START, 1)
        text = before + section + rest.split(SECTION_END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    page.write_text(text)


def arguments():
    parser = harness.parser()
    parser.add_argument("--products", type=int, default=10_000_000)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--chunk", type=int, default=10_000)
    parser.add_argument(
        "--markdown", type=Path, help="replace the catalog-at-scale section of this page"
    )
    args = parser.parse_args()
    args.checkpoint, args.categories = CHECKPOINT, CATEGORIES
    args.database = "catalog_bench_scale"
    if args.smoke:
        args.products, args.requests, args.chunk = 4000, 200, 1000
        args.checkpoint, args.categories = 2000, 300
        args.database = f"catalog_bench_scale_smoke_{os.getpid()}"
    return args


def grown(args) -> dict:
    """Upload a checkpoint at a time, measuring at the checkpoint and at the end."""
    rates: list[float] = []
    at_checkpoint: dict[str, tuple] = {}
    chosen_then: dict[str, tuple[str, int]] = {}
    with catalog_served(args.database) as served:
        port, gunicorn, admin = served.port, served.process, served.admin_token
        products = Products(category_tree(args.categories))
        loaded = 0
        while loaded < args.products:
            step = min(args.checkpoint, args.products - loaded)
            rates.append(upload(port, admin, products, step, args.chunk))
            loaded += step
            print(f"{loaded:,} products: {rates[-1]:,.0f} products/s", flush=True)
            if loaded == args.checkpoint and loaded < args.products:
                at_checkpoint, chosen_then = measure(
                    gunicorn.pid, port, args.database, args.requests
                )
        final, chosen = measure(gunicorn.pid, port, args.database, args.requests)
        with psycopg.connect(f"{SERVER}/{args.database}", autocommit=True) as conn:
            size = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
            category_count = conn.execute("SELECT count(*) FROM catalog_category").fetchone()[0]
            server = {name: conn.execute(f"SHOW {name}").fetchone()[0] for name in SERVER_SETTINGS}
    return {
        "rates": rates,
        "at_checkpoint": at_checkpoint,
        "chosen_then": chosen_then,
        "final": final,
        "chosen": chosen,
        "size": size,
        "category_count": category_count,
        "server": server,
    }


def scale_figures(args, rates: list[float], final: dict, at_checkpoint: dict) -> list[dict]:
    """Upload rates million by million, then each measure beside its value at the checkpoint."""
    figures = [
        report.figure(
            f"upload, million {number + 1} ({UPLOAD_CLIENTS} clients)"
            if not args.smoke
            else f"upload, step {number + 1}",
            rate,
            "products/s",
            baseline=rates[0] if number else None,
            baseline_label="first million" if number else "",
            target=f">= {TARGET_UPLOAD_RATE:,}/s",
            met=rate >= TARGET_UPLOAD_RATE,
        )
        for number, rate in enumerate(rates)
    ]
    for name, (value, unit, target, met) in final.items():
        beside = at_checkpoint.get(name)
        figures.append(
            report.figure(
                name,
                value,
                unit,
                baseline=beside[0] if beside else None,
                baseline_label=f"at {args.checkpoint:,} products" if beside else "",
                target=target,
                met=met,
            )
        )
    return figures


def page_lines(args, seen: dict, figures: list[dict]) -> list[str]:
    """The catalog-at-scale section: the run, the categories browsed, the table."""
    checkpoint = args.checkpoint
    lines = [
        f"Catalog at scale: {args.products:,} products, {seen['category_count']:,} categories, "
        f"database {seen['size'] / 2**30:.1f} GiB; load average {os.getloadavg()[0]:.1f} at the "
        f"end on {os.cpu_count()} cores. `python -m bench.catalog.scale {' '.join(sys.argv[1:])}`",
        "",
        "PostgreSQL "
        + ", ".join(f"{name} {value}" for name, value in seen["server"].items())
        + " (the upload rates depend most on how much of the growing indexes the server keeps "
        "in its buffers).",
        "",
    ]
    for label, (slug, count) in seen["chosen"].items():
        then = seen["chosen_then"].get(label)
        beside = f"; at {checkpoint:,}: `{then[0]}` ({then[1]:,})" if then else ""
        lines.append(f"- {label} category browsed: `{slug}` ({count:,} products){beside}")
    lines += [
        "",
        f"| measure | value | at {checkpoint:,} products (same run) | ratio | target | met |",
        "|---|---|---|---|---|---|",
    ]
    lines += ["| " + " | ".join(report.figure_row("catalog", item)[1:]) + " |" for item in figures]
    return lines


def main() -> None:
    args = arguments()
    seen = grown(args)
    figures = scale_figures(args, seen["rates"], seen["final"], seen["at_checkpoint"])
    lines = page_lines(args, seen, figures)
    print("\n".join(lines))
    if args.markdown:
        write_section(args.markdown, lines)
    if args.json:
        report.write(
            args.json,
            report.result(
                "catalog-scale",
                config={
                    "products": args.products,
                    "categories": seen["category_count"],
                    "database_gib": round(seen["size"] / 2**30, 2),
                    "database_server": seen["server"],
                    "workers": WORKERS,
                    "clients": CLIENTS,
                    "smoke": args.smoke,
                    "browsed": {label: list(value) for label, value in seen["chosen"].items()},
                    "browsed_at_checkpoint": {
                        label: list(value) for label, value in seen["chosen_then"].items()
                    },
                },
                figures=figures,
                rss_mb={},
                samples_ms={},
            ),
        )


if __name__ == "__main__":
    main()
