"""Run every benchmark with its own virtual environment, one after the other, and render the page.

    scripts/bench            # full size, into var/bench/ and docs/benchmarks.md (a quiet machine)
    scripts/bench --smoke    # a few seconds each, into var/bench/smoke/ (make test runs this)

(scripts/bench builds the virtual environments, then runs ``python -m bench.suite`` with
``.venvs/bench``.) Each script runs as a module from the repository root,
``.venvs/<venv>/bin/python -m bench.<name>.run ... --json FILE`` (``bench.catalog.scale`` for
the smoke run ``catalog-scale``; with ``PYTHONPATH`` naming the service's folder for a script
that loads the service's own Django settings); its output goes to ``FILE`` with ``.log`` for
``.json``. A script whose ``--help`` does not offer ``--json`` is listed as not run instead of
being started. The manifest (``runs.json`` beside the results) holds the machine, every run's
command, status, duration and load averages, and the results; ``--render-only`` draws the page
from it again.
"""

import argparse
import json
import os
import platform
import re
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench import report

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Planned:
    name: str
    bench: str
    venv: str
    arguments: tuple[str, ...] = ()
    pythonpath: str = ""  # a folder the script imports from besides the repository root
    module: str = ""  # the script's module, when it is not bench.<bench>.run


FULL = [
    Planned("catalog-10k", "catalog", "catalog", ("--products", "10000")),
    Planned("catalog-100k", "catalog", "catalog", ("--products", "100000")),
    Planned("catalog-1m", "catalog", "catalog", ("--products", "1000000")),
    Planned("gateway", "gateway", "auth-gateway", ("--bare-proxy",)),
    Planned(
        "gateway-8-clients",
        "gateway",
        "auth-gateway",
        ("--reads", "average_price", "--clients", "8", "--bare-proxy"),
    ),
    Planned("gateway-slow-clients", "gateway", "auth-gateway", ("--slow-clients",)),
    Planned("orders", "orders", "orders", ("--through-gateway",)),
    # Tracing's cost, each against the untraced stack in turn in the same run (target: at most
    # 15%): orders/s through a gateway and orders tracing at full sampling, ...
    Planned("orders-traced", "orders", "orders", ("--through-gateway", "--traced")),
    # ... and product detail's p50 through a traced gateway and catalog.
    Planned("gateway-traced", "gateway", "auth-gateway", ("--reads", "detail", "--traced")),
    Planned("notifier", "notifier", "notifier", pythonpath="services/notifier"),
    # A flash sale: 10,000 orders as fast as one writer with 2 consumer processes throughout (the
    # last delivery within 60 s of the last commit), then a backlog of 10,000 drained by 2.
    Planned(
        "notifier-burst-10k",
        "notifier",
        "notifier",
        ("--consumers", "2", "--burst", "10000"),
        pythonpath="services/notifier",
    ),
]
SMOKE = [
    Planned("catalog", "catalog", "catalog", ("--smoke",)),
    Planned("gateway", "gateway", "auth-gateway", ("--smoke", "--bare-proxy", "--traced")),
    Planned("orders", "orders", "orders", ("--through-gateway", "--traced", "--smoke")),
    Planned("notifier", "notifier", "notifier", ("--smoke",), pythonpath="services/notifier"),
    # make bench-10m's script at 4,000 products (at full size only by make bench-10m)
    Planned(
        "catalog-scale", "catalog-scale", "catalog", ("--smoke",), module="bench.catalog.scale"
    ),
]


def machine() -> dict:
    """Return what the page says about the machine."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "?",
    )
    memory_kib = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal:")
    )
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(memory_kib / 1024 / 1024, 1),
        "system": f"{platform.system()} {platform.release()}",
    }


def commit() -> str:
    """Return the checked-out commit, marked when the work tree has changes."""

    def git(*arguments: str) -> str:
        return subprocess.run(
            ["git", *arguments], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()

    # the page and plots this suite writes are not changes to what is measured
    changed = git("status", "--short", "--", ".", ":(exclude)docs/benchmarks*")
    return git("rev-parse", "--short", "HEAD") + (" (with local changes)" if changed else "")


def offers_json(python: Path, module: str, env: dict[str, str]) -> bool:
    """Tell whether the script's --help lists --json."""
    shown = subprocess.run(
        [str(python), "-m", module, "--help"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return "--json" in shown.stdout


# Before each full run, wait (up to SETTLE_SECONDS) for the previous one's load to die down, so
# that no run inherits another's work; the page shows the load average each run started at.
SETTLE_LOAD = 1.0
SETTLE_SECONDS = 90


def settle() -> None:
    deadline = time.monotonic() + SETTLE_SECONDS
    while os.getloadavg()[0] > SETTLE_LOAD and time.monotonic() < deadline:
        time.sleep(5)


def execute(planned: Planned, out: Path, timeout: float) -> dict:
    """Run one planned bench; return its manifest entry."""
    python = ROOT / ".venvs" / planned.venv / "bin" / "python"
    module = planned.module or f"bench.{planned.bench}.run"
    target = out / f"{planned.name}.json"
    log = out / f"{planned.name}.log"
    target.unlink(missing_ok=True)
    command = [str(python), "-m", module, *planned.arguments, "--json", str(target)]
    env = dict(os.environ)
    prefix = ""
    if planned.pythonpath:
        env["PYTHONPATH"] = str(ROOT / planned.pythonpath)
        prefix = f"PYTHONPATH={planned.pythonpath} "
    entry = {
        "name": planned.name,
        "bench": planned.bench,
        "command": prefix
        + " ".join(shown(Path(part)) if part.startswith("/") else part for part in command),
        "status": "not run",
        "detail": "",
        "seconds": None,
        "load_before": None,
        "load_after": None,
        "result": None,
    }
    if not python.exists():
        entry["detail"] = f".venvs/{planned.venv} is missing (scripts/bench builds it)"
        return entry
    if not offers_json(python, module, env):
        entry["detail"] = "script lacks --json"
        return entry
    entry["load_before"] = list(os.getloadavg())
    started = time.monotonic()
    with log.open("w") as output:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            stop(process)
            code = None
    entry["seconds"] = round(time.monotonic() - started, 1)
    entry["load_after"] = list(os.getloadavg())
    entry["status"] = "failed"
    if code is None:
        entry["detail"] = f"timed out after {timeout:g} s"
    elif code != 0:
        entry["detail"] = f"exit {code}"
    elif not target.exists():
        entry["detail"] = "exit 0 but no JSON written"
    else:
        try:
            written = json.loads(target.read_text())
        except json.JSONDecodeError as exc:
            written, problems = None, [f"not JSON ({exc})"]
        else:
            problems = report.validate(written)
        if problems:
            entry["detail"] = "invalid result: " + "; ".join(problems)
        else:
            written.setdefault("config", {})
            written.setdefault("rss_mb", {})
            written.setdefault("samples_ms", {})
            entry["status"], entry["result"] = "ok", written
    return entry


def shown(path: Path) -> str:
    """Return a path relative to the repository root when it is inside it."""
    return str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)


def stop(process: subprocess.Popen) -> None:
    """Stop a bench that ran too long, letting it stop its servers and drop its database first."""
    # SIGINT is a KeyboardInterrupt in the script, so its finally blocks clean up; its group
    # (it and any server it did not start in a session of its own) gets SIGTERM, then SIGKILL.
    for signalled, grace in ((signal.SIGINT, 60), (signal.SIGTERM, 30), (signal.SIGKILL, None)):
        if signalled == signal.SIGINT:
            process.send_signal(signalled)
        else:
            os.killpg(process.pid, signalled)
        try:
            process.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def write_junit(path: Path, runs: list[dict]) -> None:
    """Write the runs as JUnit XML, one test case each (a bench not run is skipped)."""
    failed = [run for run in runs if run["status"] == "failed"]
    skipped = [run for run in runs if run["status"] == "not run"]
    suite = ET.Element(
        "testsuite",
        name="bench smoke",
        tests=str(len(runs)),
        failures=str(len(failed)),
        errors="0",
        skipped=str(len(skipped)),
    )
    for run in runs:
        case = ET.SubElement(
            suite,
            "testcase",
            classname="bench.smoke",
            name=run["name"],
            time=str(run["seconds"] or 0),
        )
        if run["status"] == "failed":
            ET.SubElement(case, "failure", message=run["detail"])
        elif run["status"] == "not run":
            ET.SubElement(case, "skipped", message=run["detail"])
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(suite).write(path, encoding="unicode", xml_declaration=True)


# A section another script writes into the page between its markers (bench/catalog/scale.py's
# "Catalog at scale", from make bench-10m): kept as it is when the page is drawn again.
KEPT_SECTION = re.compile(
    r"^<!-- [^\n]* writes this section -->\n.*?^<!-- end of [^\n]* -->$", re.DOTALL | re.MULTILINE
)


def publish(manifest: dict, page: Path) -> None:
    """Draw the plots beside the page and write the page, keeping other scripts' sections."""
    page.parent.mkdir(parents=True, exist_ok=True)
    kept = KEPT_SECTION.findall(page.read_text()) if page.exists() else []
    plots = report.draw_plots(manifest, page.parent)
    text = report.render(manifest, plots)
    page.write_text("\n\n".join([text.rstrip("\n"), *kept]) + "\n")


def merged_runs(earlier: list[dict], fresh: list[dict], plan: list[Planned]) -> list[dict]:
    """The runs of an earlier manifest with ``fresh`` ones in place of theirs, in plan order:
    re-running some benches (``--only``) keeps every other bench's figures on the page."""
    by_name = {run["name"]: run for run in earlier} | {run["name"]: run for run in fresh}
    return [by_name[planned.name] for planned in plan if planned.name in by_name]


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="every script with --smoke")
    parser.add_argument(
        "--only",
        help="comma-separated run names, e.g. orders,notifier; the other runs of the last "
        "manifest (runs.json) stay on the page",
    )
    parser.add_argument("--out", type=Path, help="results folder (var/bench, var/bench/smoke)")
    parser.add_argument("--page", type=Path, help="the page (docs/benchmarks.md; smoke: in --out)")
    parser.add_argument("--timeout", type=float, help="seconds per run (3600; smoke: 300)")
    parser.add_argument("--junitxml", type=Path, help="also write the runs as JUnit XML")
    parser.add_argument(
        "--render-only", action="store_true", help="draw the page from the manifest again"
    )
    return parser.parse_args()


def run_plan(args: argparse.Namespace, out: Path, manifest_path: Path) -> dict:
    """Run the planned scripts (those --only names, or all); return the manifest, with the
    runs of the last manifest that --only left out."""
    full_plan = plan = SMOKE if args.smoke else FULL
    if args.only:
        wanted = {name.strip() for name in args.only.split(",")}
        plan = [planned for planned in full_plan if planned.name in wanted]
    timeout = args.timeout or (300.0 if args.smoke else 3600.0)
    manifest = {
        "smoke": args.smoke,
        "started": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit(),
        "machine": machine(),
        "runs": [],
    }
    for planned in plan:
        print(f"==> bench {planned.name}", flush=True)
        if not args.smoke:
            settle()
        entry = execute(planned, out, timeout)
        manifest["runs"].append(entry)
        took = f" in {entry['seconds']:.0f} s" if entry["seconds"] is not None else ""
        detail = f": {entry['detail']}" if entry["detail"] else ""
        print(f"    {entry['status']}{took}{detail}", flush=True)
        if entry["status"] == "failed":
            log = out / f"{planned.name}.log"
            print(f"    end of its log ({shown(log)}):")
            for line in log.read_text(errors="replace").splitlines()[-25:]:
                print(f"    | {line}")
    if args.only and manifest_path.exists():
        earlier = json.loads(manifest_path.read_text())
        if earlier.get("smoke") == args.smoke:
            for run in earlier["runs"]:  # where the kept figures came from
                run.setdefault("commit", earlier.get("commit"))
            for run in manifest["runs"]:
                run["commit"] = manifest["commit"]
            manifest["runs"] = merged_runs(earlier["runs"], manifest["runs"], full_plan)
    return manifest


def main() -> int:
    args = arguments()
    out = args.out or ROOT / "var" / "bench" / ("smoke" if args.smoke else "")
    page = args.page or (out / "benchmarks.md" if args.smoke else ROOT / "docs" / "benchmarks.md")
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / "runs.json"
    if args.render_only:
        manifest = json.loads(manifest_path.read_text())
    else:
        manifest = run_plan(args, out, manifest_path)
        manifest_path.write_text(json.dumps(manifest, indent=1))
    publish(manifest, page)
    if args.junitxml:
        write_junit(args.junitxml, manifest["runs"])
    print(report.summary(manifest["runs"]))
    print(f"wrote {shown(page)}")
    return 1 if any(run["status"] == "failed" for run in manifest["runs"]) else 0


if __name__ == "__main__":
    sys.exit(main())
