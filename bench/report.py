"""Benchmark results: what each bench script writes with ``--json``, and the page made of them.

A bench script (run by its own service's virtual environment, so this module needs only the
standard library until a plot is drawn) builds its result with ``figure`` and ``result``, reads
its servers' memory with ``rss_mb`` and writes the file with ``write``::

    from bench import report  # run as a module from the repository root (python -m bench.x.run)

    report.write(path, report.result(
        "orders",
        config={"seconds": 8},
        figures=[report.figure("orders placed", 120.9, "req/s", baseline=322.3,
                               baseline_label="DRF hello-world", target=">= 10% of baseline",
                               met=120.9 / 322.3 >= 0.10)],
        rss_mb={"orders (gunicorn, 5 workers)": report.rss_mb(orders.pid)},
        samples_ms={"POST /orders/": latencies_ms},
    ))

A figure's baseline is in the figure's unit, measured in the same run. ``bench/suite.py`` runs
every script and renders their results into a page with ``render`` and ``draw_plots``.
"""

import json
import math
import os
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

LATENCY_PLOT = "benchmarks-latency.png"
SCALING_PLOT = "benchmarks-scaling.png"


def figure(
    measure: str,
    value: float,
    unit: str,
    *,
    baseline: float | None = None,
    baseline_label: str = "",
    ratio: float | None = None,
    target: str | None = None,
    met: bool | None = None,
) -> dict[str, Any]:
    """Return one figure; the ratio defaults to value / baseline."""
    if ratio is None and baseline:
        ratio = value / baseline
    return {
        "measure": measure,
        "value": round(value, 4),
        "unit": unit,
        "baseline": None if baseline is None else round(baseline, 4),
        "baseline_label": baseline_label,
        "ratio": None if ratio is None else round(ratio, 4),
        "target": target,
        "met": met,
    }


def result(
    bench: str,
    *,
    config: dict[str, Any],
    figures: list[dict[str, Any]],
    rss_mb: dict[str, float],
    samples_ms: dict[str, Iterable[float]],
) -> dict[str, Any]:
    """Return a whole run's result in the shape every bench script writes."""
    return {
        "bench": bench,
        "config": config,
        "figures": figures,
        "rss_mb": rss_mb,
        "samples_ms": {
            series: [round(sample, 3) for sample in samples]
            for series, samples in samples_ms.items()
        },
    }


def write(path: str | Path, run_result: dict[str, Any]) -> None:
    """Write a result as JSON, refusing one that does not have the shared shape."""
    problems = validate(run_result)
    if problems:
        raise ValueError("; ".join(problems))
    Path(path).write_text(json.dumps(run_result))


def validate(run_result: Any) -> list[str]:
    """Return what is wrong with a result's shape (an empty list when nothing is)."""
    if not isinstance(run_result, dict):
        return ["not a JSON object"]
    problems = []
    if not isinstance(run_result.get("bench"), str):
        problems.append("'bench' is not a string")
    for key in ("config", "rss_mb", "samples_ms"):
        if not isinstance(run_result.get(key, {}), dict):
            problems.append(f"'{key}' is not an object")
    figures = run_result.get("figures")
    if not isinstance(figures, list):
        return [*problems, "'figures' is not a list"]
    for index, item in enumerate(figures):
        if not isinstance(item, dict):
            problems.append(f"figure {index} is not an object")
            continue
        if not isinstance(item.get("measure"), str):
            problems.append(f"figure {index} has no measure")
        if not _is_number(item.get("value")):
            problems.append(f"figure {index} ({item.get('measure')}) has no numeric value")
        for key in ("baseline", "ratio"):
            if item.get(key) is not None and not _is_number(item[key]):
                problems.append(f"figure {index} ({item.get('measure')}): {key} is not a number")
        if item.get("met") not in (True, False, None):
            problems.append(f"figure {index} ({item.get('measure')}): met is not a boolean")
    return problems


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def process_tree(pid: int) -> list[int]:
    """Return the pid and every live descendant of it (gunicorn's workers, for one)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    family = [pid]
    for member in family:
        family.extend(children.get(member, []))
    return family


def rss_mb(pid: int) -> float:
    """Return the resident memory (VmRSS, MiB) of a process and its descendants, added up."""
    total_kib = 0
    for member in process_tree(pid):
        try:
            status = Path(f"/proc/{member}/status").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total_kib += int(line.split()[1])
    return round(total_kib / 1024, 1)


def cpu_seconds(pid: int) -> float:
    """Return the CPU time (user + system) a process and its live descendants have used."""
    ticks = 0
    for member in process_tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


# The page. A manifest (bench/suite.py writes it as var/bench/runs.json) holds the machine and,
# for every planned run: name, bench, command, status ("ok", "failed", "not run"), detail,
# seconds, load_before, load_after and the script's result (None unless it wrote one).


def number(value: float | None) -> str:
    """Format a figure with as many digits as its size deserves."""
    if value is None:
        return ""
    if isinstance(value, int):
        return f"{value:,}"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1 or magnitude == 0:
        return f"{value:.2f}"
    return f"{value:.3g}"


def verdict(item: dict[str, Any]) -> str:
    """Return 'yes', 'no' or, for a figure without a target, nothing."""
    if item.get("met") is True:
        return "yes"
    if item.get("met") is False:
        return "**no**"
    return "?" if item.get("target") else ""


def label(run: dict[str, Any]) -> str:
    """Return the run's name (its bench's, unless it ran the bench with other options than
    the catalog size), with the catalog size when the run was given one."""
    products = (run.get("result") or {}).get("config", {}).get("products")
    name = run["name"] if run.get("variant") else run["bench"]
    return f"{name} ({products:,} products)" if products else name


def primary_runs(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return one run per bench and set of options, the largest where runs differ only in their
    catalog size; ``variant`` is set on each: whether its bench ran with other options too."""
    chosen: dict[tuple[str, str], dict[str, Any]] = {}
    for run in runs:
        key = (run["bench"], _options(run))
        best = chosen.get(key)
        if best is None or (run.get("result") and _size(run) >= _size(best)):
            chosen[key] = run
    per_bench = Counter(bench for bench, _ in chosen)
    for (bench, _), run in chosen.items():
        run["variant"] = per_bench[bench] > 1
    return list(chosen.values())


def _options(run: dict[str, Any]) -> str:
    """Return the run's options other than the catalog size, as one comparable string."""
    options, skip = [], False
    for argument in str(run.get("command", "")).split()[2:]:  # after the interpreter and script
        if skip:
            skip = False
        elif argument in ("--products", "--json"):
            skip = True
        else:
            options.append(argument)
    return " ".join(options)


def _size(run: dict[str, Any]) -> int:
    if not run.get("result"):
        return -1
    return run["result"].get("config", {}).get("products", 0)


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _row(cells: Iterable[Any]) -> str:
    return "| " + " | ".join(_cell(cell) for cell in cells) + " |"


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    return [_row(header), _row("---" for _ in header), *(_row(row) for row in rows)]


def figure_row(bench_label: str, item: dict[str, Any]) -> list[str]:
    """Return a figure's cells: bench, measure, value, baseline, ratio, target, met."""
    unit = f" {item['unit']}" if item.get("unit") else ""
    baseline = ""
    if item.get("baseline") is not None:
        named = f" ({item['baseline_label']})" if item.get("baseline_label") else ""
        baseline = f"{number(item['baseline'])}{unit}{named}"
    ratio = "" if item.get("ratio") is None else f"{number(item['ratio'])}x"
    return [
        bench_label,
        item["measure"],
        f"{number(item['value'])}{unit}",
        baseline,
        ratio,
        item.get("target") or "",
        verdict(item),
    ]


def summary(runs: list[dict[str, Any]]) -> str:
    """Return one line: targets met and missed, and the runs that produced nothing."""
    met, missed = 0, []
    for run in primary_runs(runs):
        for item in (run.get("result") or {}).get("figures", []):
            if item.get("met") is True:
                met += 1
            elif item.get("met") is False:
                missed.append(f"{run['bench']}: {item['measure']}")
    parts = [f"targets met: {met}", f"missed: {len(missed)}"]
    if missed:
        parts[-1] += " (" + "; ".join(missed) + ")"
    idle = [
        f"{run['name']} ({run['status']}: {run['detail']})" for run in runs if not run["result"]
    ]
    if idle:
        parts.append("without results: " + "; ".join(idle))
    return ", ".join(parts) + "."


def _load(values: list[float] | None) -> str:
    return " / ".join(f"{value:.2f}" for value in values) if values else ""


def render(manifest: dict[str, Any], plots: dict[str, str]) -> str:
    """Return the Markdown page: machine, runs, every figure, memory, plots and catalog scaling."""
    machine, runs = manifest["machine"], manifest["runs"]
    lines = ["# Benchmarks", ""]
    if manifest.get("smoke"):
        lines += [
            "Smoke run (`scripts/bench --smoke`, part of `make test`): tiny runs that only prove",
            "every bench script works; the figures are not measurements.",
            "",
        ]
    lines += [
        f"Produced by `{'scripts/bench --smoke' if manifest.get('smoke') else 'make bench'}` "
        f"on {manifest['started']} at commit "
        f"`{manifest.get('commit', '?')}`; regenerate it rather than editing it.",
        "",
        f"Machine: {machine['cores']} cores ({machine.get('cpu', '?')}), "
        f"{machine.get('memory_gib', '?')} GiB memory, {machine.get('system', '?')}. "
        "Load average is 1 / 5 / 15 minutes.",
        "",
        summary(runs),
        "",
        "## Runs",
        "",
    ]
    lines += _table(
        ["run", "command", "result", "seconds", "load average before", "after"],
        [
            [
                run["name"],
                f"`{run['command']}`",
                run["status"] + (f": {run['detail']}" if run.get("detail") else ""),
                f"{run['seconds']:.0f}" if run.get("seconds") is not None else "",
                _load(run.get("load_before")),
                _load(run.get("load_after")),
            ]
            for run in runs
        ],
    )
    figure_rows = []
    for run in primary_runs(runs):
        if not run.get("result"):
            figure_rows.append([run["bench"], f"{run['status']}: {run['detail']}"])
            figure_rows[-1] += [""] * 5
            continue
        figure_rows += [figure_row(label(run), item) for item in run["result"]["figures"]]
    lines += [
        "",
        "## Figures",
        "",
        "Each baseline is measured in the same run, on the same data.",
        "",
    ]
    lines += _table(
        ["bench", "measure", "value", "baseline (same run)", "ratio", "target", "met"], figure_rows
    )
    memory_rows = [
        [label(run), process, number(megabytes)]
        for run in runs
        if run.get("result")
        for process, megabytes in run["result"].get("rss_mb", {}).items()
    ]
    lines += ["", "## Memory (RSS)", ""]
    lines += [
        "Resident memory of each process at the end of its load, a process's children (its",
        "gunicorn workers) included.",
        "",
    ]
    lines += _table(["bench", "process", "RSS MiB"], memory_rows)
    if LATENCY_PLOT in plots:
        lines += ["", "## Latency distribution", "", f"![latency CDF]({plots[LATENCY_PLOT]})"]
    scaling = scaling_rows(runs)
    lines += ["", "## Catalog size", ""]
    if scaling:
        lines += _table(
            [
                "products",
                "average_price p50 ms",
                "naive query p50 ms",
                "upload products/s",
                "naive loop products/s",
            ],
            [
                [f"{row['products']:,}", *(number(row[key]) for key in SCALING_KEYS)]
                for row in scaling
            ],
        )
        if SCALING_PLOT in plots:
            lines += ["", f"![throughput and latency by catalog size]({plots[SCALING_PLOT]})"]
    else:
        lines.append("No catalog run wrote results.")
    return "\n".join(lines) + "\n"


SCALING_KEYS = ("price_p50", "naive_p50", "upload", "naive_upload")


def _find(figures: list[dict[str, Any]], *words: str) -> dict[str, Any] | None:
    for item in figures:
        measure = item["measure"].lower()
        if all(word in measure for word in words):
            return item
    return None


def scaling_rows(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return, per catalog size, average_price p50 and upload rate with their baselines.

    The catalog's figures are found by name: the first whose measure holds "average_price" and
    "p50", and the first holding "upload".
    """
    rows = []
    for run in runs:
        found = run.get("result")
        if run["bench"] != "catalog" or not found or not found.get("config", {}).get("products"):
            continue
        price = _find(found["figures"], "average_price", "p50") or {}
        upload = _find(found["figures"], "upload") or {}
        rows.append(
            {
                "products": found["config"]["products"],
                "price_p50": price.get("value"),
                "naive_p50": price.get("baseline"),
                "upload": upload.get("value"),
                "naive_upload": upload.get("baseline"),
            }
        )
    return sorted(rows, key=lambda row: row["products"])


def draw_plots(manifest: dict[str, Any], directory: Path) -> dict[str, str]:
    """Draw the latency CDFs and the catalog scaling plot as PNGs; return the names drawn."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot, ticker

    drawn = {}
    with_samples = [
        run
        for run in primary_runs(manifest["runs"])
        if run.get("result") and any(run["result"].get("samples_ms", {}).values())
    ]
    if with_samples:
        fig, axes = pyplot.subplots(
            len(with_samples), 1, figsize=(9, 3.2 * len(with_samples)), squeeze=False
        )
        for axis, run in zip(axes[:, 0], with_samples, strict=True):
            for series, samples in run["result"]["samples_ms"].items():
                if not samples:
                    continue
                ordered = sorted(samples)
                share = [(index + 1) / len(ordered) for index in range(len(ordered))]
                axis.step(ordered, share, where="post", label=f"{series} (n={len(ordered):,})")
            axis.set_xscale("log")
            axis.xaxis.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:g}"))
            axis.xaxis.set_minor_formatter(ticker.NullFormatter())
            axis.set_title(label(run))
            axis.set_xlabel("latency, ms (log)")
            axis.set_ylabel("share of samples")
            axis.grid(True, which="both", alpha=0.3)
            axis.legend(fontsize="x-small", loc="lower right")
        fig.tight_layout()
        fig.savefig(directory / LATENCY_PLOT, dpi=100)
        pyplot.close(fig)
        drawn[LATENCY_PLOT] = LATENCY_PLOT
    scaling = scaling_rows(manifest["runs"])
    if scaling:
        sizes = [row["products"] for row in scaling]
        fig, (latency, upload) = pyplot.subplots(1, 2, figsize=(11, 4))
        for axis, series in (
            (latency, (("price_p50", "average_price p50"), ("naive_p50", "naive EXISTS query"))),
            (upload, (("upload", "POST /products/upload/"), ("naive_upload", "one ORM save each"))),
        ):
            for key, name in series:
                points = [(size, row[key]) for size, row in zip(sizes, scaling, strict=True)]
                points = [(size, value) for size, value in points if value]
                if points:
                    axis.plot(*zip(*points, strict=True), marker="o", label=name)
            axis.set_xscale("log")
            axis.set_yscale("log")
            axis.set_xlabel("products in the catalog (log)")
            axis.grid(True, which="both", alpha=0.3)
            axis.legend(fontsize="small")
        latency.set_ylabel("ms (log)")
        latency.set_title("average price latency")
        upload.set_ylabel("products/s (log)")
        upload.set_title("ingestion rate")
        fig.tight_layout()
        fig.savefig(directory / SCALING_PLOT, dpi=100)
        pyplot.close(fig)
        drawn[SCALING_PLOT] = SCALING_PLOT
    return drawn
