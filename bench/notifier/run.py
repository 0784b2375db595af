"""Events per second and latency from order commit to both deliveries, through relay + notifier.

Runs the real processes (``manage.py relay_outbox`` and ``manage.py consume``) against the local
PostgreSQL and RabbitMQ, with the local SMS and SMTP stand-ins (``ecomms-sms-standin`` and
``ecomms-smtp-sink`` of libs/standins, each a process of its own, recording every message they
accept in a file), and commits ``order.placed`` events through the outbox at fixed rates, as the
orders service does. Four phases:

- baseline: 5 orders/s (an idle pipeline's latency),
- target: 100 orders/s (p95 from commit to both deliveries should stay under 1 s),
- burst: orders committed as fast as one writer can (in this process); besides its rate, how
  long after the last commit the last delivery was sent (the flash-sale check: ``--burst 10000
  --consumers 2`` runs it with 2 consumer processes, drained within 60 s),
- backlog: the consumers are paused (SIGSTOP) while ``--burst`` orders are committed and
  relayed, then resumed: the rate at which they drain the queue is the consumers' ceiling,
  whatever one writer can offer, and their CPU in that phase is the CPU per event. It runs once
  for each count of ``--consumers`` (default ``1 2``), in that order, a consumer process being
  started before each (the first phases run with the first count): the rates of 2 processes and
  of 1 come from the same run, against the same database, broker and stand-ins.

Usage (from the repository root, after ``scripts/ensure-venv .venvs/notifier
services/notifier/requirements-test.txt``; it loads the notifier's test settings and models, so
the service's folder goes on ``PYTHONPATH``)::

    PYTHONPATH=services/notifier .venvs/notifier/bin/python -m bench.notifier.run \
        [--rate 100] [--seconds 20] [--burst 1000] [--consumers 1 2] [--json PATH] [--smoke]

It uses (and afterwards drops) the database ``bench_events_<pid>`` (``bench_events_smoke_<pid>``
with ``--smoke``) and RabbitMQ names unique to the run. At the end it reads what the stand-ins
recorded and counts every order's SMS and email: one each, none twice. ``--json PATH`` also
writes the figures (bench/report.py), every latency sample and the relay's and consumer's
resident memory; ``--smoke`` is a run of a few seconds that only proves the benchmark works.
"""

import argparse
import json
import logging
import os
import tempfile
from collections import Counter
from pathlib import Path

from bench import harness, report

BASELINE_RATE = 5.0
WARM_UP = 5  # orders, before any phase

os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
os.environ.setdefault("LOG_LEVEL", "WARNING")


def recorded(path: Path) -> list[dict]:
    """Return the messages a stand-in recorded (one JSON object a line)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def once_each(keys: list[str], expected: set[str]) -> dict[str, int]:
    """Count messages against the orders they are for: received, orders without one, twice."""
    seen = Counter(keys)
    return {
        "received": len(keys),
        "missing": len(expected - seen.keys()),
        "duplicated": sum(1 for count in seen.values() if count > 1),
    }


def main() -> None:
    parser = harness.parser(__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=100.0, help="orders per second (target)")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the target phase")
    parser.add_argument("--burst", type=int, default=1000, help="orders in the burst phase")
    parser.add_argument(
        "--consumers",
        type=int,
        nargs="+",
        default=[1, 2],
        help="manage.py consume processes sharing the queue: one backlog phase per count, rising",
    )
    args = parser.parse_args()
    if args.consumers != sorted(set(args.consumers)) or args.consumers[0] < 1:
        parser.error("--consumers: counts of at least 1, rising, e.g. 1 2")
    args.baseline_orders = 50
    if args.smoke:
        args.seconds, args.burst, args.baseline_orders = 0.4, 20, 5
    database = f"bench_events{'_smoke' if args.smoke else ''}_{os.getpid()}"
    os.environ["DATABASE_URL"] = f"{harness.SERVER}/{database}"

    # The stand-ins' records and announcements are in a folder removed however the run ends.
    with (
        harness.throwaway_databases(database),
        tempfile.TemporaryDirectory(prefix="bench-notifier-") as workdir,
    ):
        run(args, Path(workdir))


def run(args: argparse.Namespace, workdir: Path) -> None:
    import django

    django.setup()
    logging.getLogger().setLevel(logging.WARNING)
    logging.getLogger("pika").setLevel(logging.ERROR)  # passive declares before the queue is
    from django.core.management import call_command

    from bench.notifier.pipeline import Pipeline

    call_command("migrate", verbosity=0)
    pipeline = Pipeline(workdir)
    rows = []
    samples_ms: dict[str, list[float]] = {}
    try:
        pipeline.start_all(args.consumers[0])
        pipeline.place(WARM_UP, None)
        pipeline.finished(list(pipeline.committed))
        phases = [
            ("baseline", BASELINE_RATE, args.baseline_orders),
            ("target", args.rate, int(args.rate * args.seconds)),
            ("burst", None, args.burst),
        ]
        for name, rate, count in phases:
            row, samples_ms[phase_label(name, rate)] = pipeline.phase(name, rate, count)
            rows.append(row)
        for count in args.consumers:
            pipeline.scale_to(count)
            rows.append(pipeline.backlog(args.burst))
        cpu, memory = pipeline.cpu_seconds(), pipeline.memory()
    finally:
        pipeline.stop()
    counts = {
        "orders": len(pipeline.committed),
        "sms": once_each(
            [sms["to"] for sms in recorded(pipeline.sms_record)], set(pipeline.orders)
        ),
        "mail": once_each(
            [mail["subject"].rpartition("#")[2] for mail in recorded(pipeline.mail_record)],
            set(pipeline.orders.values()),
        ),
    }
    print_results(args, rows, counts, cpu)
    if args.json:
        report.write(args.json, json_result(args, rows, counts, cpu, memory, samples_ms))
        print(f"written: {args.json}")


def print_results(args: argparse.Namespace, rows: list[dict], counts: dict, cpu: dict) -> None:
    baseline = rows[0]
    print()
    print(
        f"{'phase':<10}{'orders':>8}{'offered/s':>11}{'events/s':>10}"
        f"{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}{'p95 vs base':>13}"
        f"{'relay':>8}{'broker':>8}{'send':>8}"
    )
    for row in rows:
        print(
            f"{row['phase']:<10}{row['orders']:>8}{row['offered']:>11.1f}{row['delivered']:>10.1f}"
            f"{row['p50']:>9.0f}{row['p95']:>9.0f}{row['max']:>9.0f}"
            f"{row['p95'] / baseline['p95']:>12.2f}x"
            f"{row['relay']:>8.0f}{row['broker']:>8.0f}{row['send']:>8.0f}"
        )
    total = counts["orders"]
    burst, *drains = rows[2:]
    print()
    for channel, name in (("sms", "SMS accepted"), ("mail", "emails received")):
        seen = counts[channel]
        print(
            f"{name}: {seen['received']} for {total} orders, {seen['missing']} orders without "
            f"one, {seen['duplicated']} with more than one"
        )
    per_event = (f"{process} {seconds / total * 1000:.2f} ms" for process, seconds in cpu.items())
    print(f"CPU per event over the run: {', '.join(per_event)} ({os.cpu_count()} CPUs)")
    print(
        f"burst of {burst['orders']} with {args.consumers[0]} consumer process(es): the last "
        f"delivery sent {burst['after_last_commit']:.1f} s after the last commit"
    )
    for drain in drains:
        ratio = drain["delivered"] / drains[0]["delivered"]
        print(
            f"backlog of {drain['orders']} drained by {drain['consumers']} consumer process(es): "
            f"{drain['delivered']:.0f} events/s ({ratio:.2f}x "
            f"{drains[0]['consumers']} process(es)), CPU per event: "
            + ", ".join(f"{part} {ms:.2f} ms" for part, ms in drain["cpu_ms"].items())
            + " (p50/p95/max above: ms from resume to both sent)"
        )
    target = rows[1]
    verdict = "met" if target["p95"] < 1000 else "NOT met"
    print(f"p95 under 1 s at {args.rate:g} orders/s: {verdict} ({target['p95']:.0f} ms)")
    print("relay/broker/send: median ms from commit to publish confirm, publish to inbox,")
    print("inbox to both deliveries sent")


def _processes(count: int) -> str:
    return f"{count} consumer process{'es' if count > 1 else ''}"


def phase_label(name: str, rate: float | None) -> str:
    return f"{name}, {rate:g} orders/s" if rate else f"{name}, as fast as one writer"


def json_result(
    args: argparse.Namespace,
    rows: list[dict],
    counts: dict,
    cpu: dict[str, float],
    memory: dict[str, float],
    samples_ms: dict[str, list[float]],
) -> dict:
    """Return the run as bench/report.py's shared result: figures, samples, memory."""
    baseline, target, burst, *drains = rows
    # The flash-sale check: 10,000 orders as fast as one writer, 2 consumer processes, the
    # queue drained within 60 s of the last commit.
    flash_sale = burst["orders"] >= 10_000 and args.consumers[0] >= 2
    idle = f"same pipeline at {BASELINE_RATE:g} orders/s"
    figures = [
        report.figure(
            f"commit to SMS and email both sent, p95 at {args.rate:g} orders/s",
            target["p95"],
            "ms",
            baseline=baseline["p95"],
            baseline_label=idle,
            target="< 1000 ms",
            met=target["p95"] < 1000,
        ),
        report.figure(
            f"commit to SMS and email both sent, p50 at {args.rate:g} orders/s",
            target["p50"],
            "ms",
            baseline=baseline["p50"],
            baseline_label=idle,
        ),
        report.figure(
            f"events delivered per second, {args.rate:g} orders/s offered",
            target["delivered"],
            "events/s",
            baseline=target["offered"],
            baseline_label="orders committed per second",
        ),
        report.figure(
            f"burst ceiling, {burst['orders']} orders, {_processes(args.consumers[0])}",
            burst["delivered"],
            "events/s",
            baseline=burst["offered"],
            baseline_label="orders committed per second by one writer",
        ),
        report.figure(
            f"burst of {burst['orders']} orders, {_processes(args.consumers[0])}: "
            "last delivery after the last commit",
            burst["after_last_commit"],
            "s",
            target="< 60 s" if flash_sale else None,
            met=burst["after_last_commit"] < 60 if flash_sale else None,
        ),
    ]
    first = drains[0]
    first_processes = _processes(first["consumers"])
    for drain in drains:
        processes = _processes(drain["consumers"])
        one = drain["consumers"] == 1
        same = drain is first
        figures += [
            report.figure(
                f"backlog of {drain['orders']} drained per second, {processes}",
                drain["delivered"],
                "events/s",
                baseline=None if same else first["delivered"],
                baseline_label="" if same else f"{first_processes}, same run",
                target=">= 300 events/s" if one else None,
                met=drain["delivered"] >= 300 if one else None,
            ),
            report.figure(
                f"consumer CPU per event draining the backlog, {processes}",
                drain["consumer_cpu"],
                "ms",
                baseline=None if same else first["consumer_cpu"],
                baseline_label="" if same else f"{first_processes}, same run",
                target="<= 3 ms" if one else None,
                met=drain["consumer_cpu"] <= 3 if one else None,
            ),
        ]
        figures += [
            report.figure(f"{part} CPU per event draining the backlog, {processes}", ms, "ms")
            for part, ms in drain["cpu_ms"].items()
            if part != "consumer"
        ]
    for channel, name in (("sms", "SMS accepted"), ("mail", "admin emails received")):
        seen = counts[channel]
        figures.append(
            report.figure(
                name,
                seen["received"],
                "messages",
                baseline=counts["orders"],
                baseline_label="orders committed",
                target="one per order",
                met=seen["received"] == counts["orders"]
                and seen["missing"] == seen["duplicated"] == 0,
            )
        )
    for process, seconds in cpu.items():
        figures.append(
            report.figure(f"{process} CPU per event", seconds / counts["orders"] * 1000, "ms")
        )
    return report.result(
        "notifier",
        config={
            "smoke": args.smoke,
            "rate": args.rate,
            "seconds": args.seconds,
            "burst": args.burst,
            "baseline_rate": BASELINE_RATE,
            "baseline_orders": args.baseline_orders,
            "consumers": args.consumers,
            "cpus": os.cpu_count(),
        },
        figures=figures,
        rss_mb=memory,
        samples_ms=samples_ms,
    )


if __name__ == "__main__":
    main()
