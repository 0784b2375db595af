"""Catalog hot reads: the catalog's CPU per call with its fast paths on and off, alternately.

Run from the repository root with the catalog's virtual environment:

    .venvs/catalog/bin/python -m bench.catalog.fast_reads [--products 1000000] [--rounds 3]
        [--calls 3000] [--json FILE] [--smoke]

It grows a catalog as bench/catalog/scale.py does (its skewed tree of about 20,000 categories,
its Zipf-drawn products, uploaded through ``POST /products/upload/``), then serves that one
database twice with gunicorn (2 workers each): as configured (the fast paths of
catalog.api.fast_reads on) and with ``CATALOG_AVERAGE_PRICE_FAST_PATH`` and
``CATALOG_PRODUCT_FAST_PATH`` off (Django answers every read). In each round each read is
measured on both servers, one right after the other, the first alternating, for the server's
CPU per call (its process tree's CPU time over the calls from four clients,
bench/catalog/run.py's ``cpu_per_call``) of: ``GET /healthz`` (Django's floor: middleware and
gunicorn), a list page of 20 (first pages of categories of every size in every sort, and pages
reached by cursor) and a product's detail.
It prints each measure's median over the rounds, the fast paths on against off, and the load
average of each round.
"""

import os
import random
import statistics
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import orjson
import psycopg

from bench import harness, report
from bench.catalog.run import (
    SERVICE,
    TARGET_DETAIL_CPU_MS,
    TARGET_LIST_CPU_MS,
    WORKERS,
    catalog_served,
    cpu_per_call,
)
from bench.catalog.scale import CATEGORIES, Products, category_tree, upload
from bench.harness import SERVER, Server

SWITCHED_OFF = {"CATALOG_AVERAGE_PRICE_FAST_PATH": "false", "CATALOG_PRODUCT_FAST_PATH": "false"}
SORTS = ("newest", "price", "-price")
PAGE = 20
LIST_LABEL, DETAIL_LABEL, FLOOR_LABEL = "list page of 20", "product detail", "GET /healthz"


def arguments():
    parser = harness.parser()
    parser.add_argument("--products", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--calls", type=int, default=3000, help="calls of each read a round")
    parser.add_argument("--chunk", type=int, default=10_000)
    args = parser.parse_args()
    args.categories, args.database = CATEGORIES, "catalog_bench_fast_reads"
    if args.smoke:
        args.products, args.calls, args.rounds, args.chunk = 3000, 200, 2, 1000
        args.categories = 300
        args.database = f"catalog_bench_fast_reads_smoke_{os.getpid()}"
    return args


@contextmanager
def served_without_fast_paths(served, scratch: Path):
    """Serve the same database with the fast paths off, on a port of its own."""
    port = harness.free_port()
    env = {**served.env, **SWITCHED_OFF, "PORT": str(port)}
    gunicorn = Path(sys.executable).parent / "gunicorn"
    command = [str(gunicorn), "config.wsgi:application", "--access-logfile", "/dev/null"]
    server = Server("catalog-django", command, cwd=SERVICE, env=env, log=scratch / "off.log")
    try:
        harness.wait_until_up(port, "/healthz", deadline=60)
        yield server.pid, port
    finally:
        server.stop()


def read_paths(port: int, database: str, seed: int = 5) -> dict[str, list[str]]:
    """Return the paths of each read: pages of categories of every size, every sort, their
    second pages by cursor; products spread over the ids."""
    rng = random.Random(seed)
    with psycopg.connect(f"{SERVER}/{database}", autocommit=True) as conn:
        conn.execute("ANALYZE")
        slugs = [row[0] for row in conn.execute("SELECT slug FROM catalog_category")]
        low, high = conn.execute("SELECT min(id), max(id) FROM catalog_product").fetchone()
    firsts = [
        f"/products/?category={slug}&sort={sort}&page_size={PAGE}"
        for slug in rng.sample(slugs, min(150, len(slugs)))
        for sort in SORTS
    ]
    seconds = []
    for path in rng.sample(firsts, min(150, len(firsts))):
        status, body = harness.get(port, path)
        following = orjson.loads(body)["next"] if status == 200 else None
        if following:
            seconds.append(f"/products/?{urlsplit(following).query}")
    lists = firsts + seconds
    rng.shuffle(lists)
    details = [f"/products/{rng.randint(low, high)}/" for _ in range(600)]
    return {FLOOR_LABEL: ["/healthz"], LIST_LABEL: lists, DETAIL_LABEL: details}


def measured_rounds(args, servers: dict[str, tuple[int, int]], paths: dict) -> dict:
    """Measure each read on each server, round by round: a read on one server, then at once the
    same read on the other, the first of them alternating."""
    seen: dict[str, dict[str, list[float]]] = {
        name: {read: [] for read in paths} for name in servers
    }
    loads = []
    for number in range(args.rounds):
        for read, each in paths.items():
            order = list(servers) if number % 2 == 0 else list(reversed(servers))
            for name in order:
                pid, port = servers[name]
                seen[name][read].append(cpu_per_call(pid, port, each, args.calls))
        loads.append(os.getloadavg()[0])
        print(f"round {number + 1}: load average {loads[-1]:.2f}", flush=True)
    return {"cpu": seen, "loads": loads}


def figures_of(seen: dict) -> list[dict]:
    """Each read's median CPU per call with the fast paths on, beside the same with them off."""
    on, off = seen["cpu"]["fast paths on"], seen["cpu"]["fast paths off"]
    targets = {LIST_LABEL: TARGET_LIST_CPU_MS, DETAIL_LABEL: TARGET_DETAIL_CPU_MS}
    figures = []
    for read in on:
        value, baseline = statistics.median(on[read]), statistics.median(off[read])
        target = targets.get(read)
        figures.append(
            report.figure(
                f"{read}, catalog CPU per call (4 clients)",
                value,
                "ms",
                baseline=baseline,
                baseline_label="fast paths off (Django answers), median of the rounds",
                target=None if target is None else f"<= {target} ms",
                met=None if target is None else value <= target,
            )
        )
    return figures


def main() -> None:
    args = arguments()
    with (
        tempfile.TemporaryDirectory(prefix="bench-fast-reads-") as scratch,
        catalog_served(args.database) as served,
    ):
        products = Products(category_tree(args.categories))
        rate = upload(served.port, served.admin_token, products, args.products, args.chunk)
        print(f"{args.products:,} products uploaded at {rate:,.0f} products/s", flush=True)
        paths = read_paths(served.port, args.database)
        with served_without_fast_paths(served, Path(scratch)) as django_served:
            servers = {
                "fast paths on": (served.process.pid, served.port),
                "fast paths off": django_served,
            }
            seen = measured_rounds(args, servers, paths)
    figures = figures_of(seen)
    print(
        f"catalog: {args.products:,} products, {WORKERS} workers a server, {args.rounds} rounds "
        f"of {args.calls:,} calls a read; load average by round "
        + ", ".join(f"{load:.2f}" for load in seen["loads"])
        + f" on {os.cpu_count()} cores"
    )
    harness.print_figures("catalog fast reads", figures)
    if args.json:
        report.write(
            args.json,
            report.result(
                "catalog-fast-reads",
                config={
                    "products": args.products,
                    "rounds": args.rounds,
                    "calls": args.calls,
                    "workers": WORKERS,
                    "load_average_by_round": seen["loads"],
                    "cpu_ms_by_round": seen["cpu"],
                    "smoke": args.smoke,
                },
                figures=figures,
                rss_mb={},
                samples_ms={},
            ),
        )


if __name__ == "__main__":
    main()
