"""The benchmark page: figures beside baselines and targets, runs that did not happen, memory."""

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from bench import report, suite

MACHINE = {"cores": 2, "cpu": "Test CPU", "memory_gib": 8.0, "system": "Linux 6"}


def run_of(name, bench, result=None, status="ok", detail=""):
    return {
        "name": name,
        "bench": bench,
        "command": f".venvs/{bench}/bin/python bench/{bench}/run.py --json var/bench/{name}.json",
        "status": status,
        "detail": detail,
        "seconds": 12.3 if result else None,
        "load_before": [0.5, 0.4, 0.3] if result else None,
        "load_after": [1.25, 0.5, 0.35] if result else None,
        "result": result,
    }


def orders_result():
    return report.result(
        "orders",
        config={"seconds": 8},
        figures=[
            report.figure(
                "orders placed per second",
                120.9,
                "req/s",
                baseline=322.3,
                baseline_label="DRF hello-world",
                target=">= 10% of hello-world",
                met=True,
            ),
            report.figure("POST /orders/ p99", 126.8, "ms"),
        ],
        rss_mb={"orders (gunicorn)": 212.4, "catalog stand-in (gunicorn)": 46.5},
        samples_ms={"POST /orders/": [60.0, 63.3, 126.8], "hello-world": [20.0, 22.1]},
    )


def catalog_result(products, p50, naive_p50, upload, naive_upload, met):
    return report.result(
        "catalog",
        config={"products": products},
        figures=[
            report.figure(
                "average_price p50, top-3-level categories",
                p50,
                "ms",
                baseline=naive_p50,
                baseline_label="naive EXISTS query",
                ratio=naive_p50 / p50,
                target=">= 200x faster",
                met=met,
            ),
            report.figure(
                "upload through POST /products/upload/",
                upload,
                "products/s",
                baseline=naive_upload,
                baseline_label="one ORM save per product",
                target=">= 20,000/s",
                met=upload >= 20_000,
            ),
        ],
        rss_mb={"catalog (gunicorn)": 300.0},
        samples_ms={"average_price": [p50, p50 * 2]},
    )


def manifest_of(*runs, smoke=False):
    return {
        "smoke": smoke,
        "started": "2026-12-01 18:00 UTC",
        "commit": "abc1234",
        "machine": MACHINE,
        "runs": list(runs),
    }


def test_a_met_target_shows_value_baseline_ratio_target_and_yes():
    page = report.render(manifest_of(run_of("orders", "orders", orders_result())), {})

    assert (
        "| orders | orders placed per second | 121 req/s | 322 req/s (DRF hello-world) | 0.375x "
        "| >= 10% of hello-world | yes |"
    ) in page
    assert "| orders | POST /orders/ p99 | 127 ms |  |  |  |  |" in page
    assert "targets met: 1, missed: 0." in page


def test_a_missed_target_is_marked_no_and_named_in_the_summary():
    catalog = catalog_result(1_000_000, 2.72, 303.0, 25_000.0, 310.0, met=False)

    page = report.render(manifest_of(run_of("catalog-1m", "catalog", catalog)), {})

    assert (
        "| catalog (1,000,000 products) | average_price p50, top-3-level categories | 2.72 ms "
        "| 303 ms (naive EXISTS query) | 111x | >= 200x faster | **no** |"
    ) in page
    assert "targets met: 1, missed: 1 (catalog: average_price p50, top-3-level categories)" in page


def test_a_target_without_a_verdict_is_shown_as_unknown():
    assert report.verdict({"target": "< 1 s", "met": None}) == "?"
    assert report.verdict({"target": None, "met": None}) == ""


def test_a_script_without_json_is_listed_as_not_run_and_the_rest_still_render():
    page = report.render(
        manifest_of(
            run_of("catalog", "catalog", status="not run", detail="script lacks --json"),
            run_of("orders", "orders", orders_result()),
        ),
        {},
    )

    assert "| catalog | `.venvs/catalog/bin/python" in page
    assert "| not run: script lacks --json |  |  |  |" in page
    assert "| catalog | not run: script lacks --json |  |  |  |  |  |" in page
    assert "without results: catalog (not run: script lacks --json)." in page
    assert "| orders | orders placed per second |" in page
    assert "No catalog run wrote results." in page


def test_runs_table_has_duration_and_load_averages():
    page = report.render(manifest_of(run_of("orders", "orders", orders_result())), {})

    assert "| 12 | 0.50 / 0.40 / 0.30 | 1.25 / 0.50 / 0.35 |" in page
    assert "Machine: 2 cores (Test CPU), 8.0 GiB memory, Linux 6." in page


def test_the_largest_catalog_fills_the_figures_table_and_every_size_the_scaling_table():
    runs = [
        run_of(
            "catalog-1m", "catalog", catalog_result(1_000_000, 2.7, 303.0, 25_000.0, 300.0, False)
        ),
        run_of("catalog-10k", "catalog", catalog_result(10_000, 1.5, 4.0, 30_000.0, 320.0, False)),
        run_of(
            "catalog-100k", "catalog", catalog_result(100_000, 2.0, 40.0, 28_000.0, 310.0, False)
        ),
    ]

    page = report.render(manifest_of(*runs), {})

    assert "| catalog (1,000,000 products) | average_price p50" in page
    assert "| catalog (10,000 products) | average_price p50" not in page
    scaling = page.split("## Catalog size")[1]
    assert scaling.index("| 10,000 | 1.50 | 4.00 | 30,000 | 320 |") < scaling.index(
        "| 100,000 | 2.00 | 40.0 | 28,000 | 310 |"
    )
    assert scaling.index("| 100,000 |") < scaling.index("| 1,000,000 | 2.70 | 303 | 25,000 | 300 |")
    # every size's memory is listed, each under its own size
    assert "| catalog (10,000 products) | catalog (gunicorn) | 300 |" in page


def test_runs_of_one_bench_with_other_options_each_fill_the_figures_table_under_their_name():
    four, eight = (
        run_of("gateway", "orders", orders_result()),
        run_of("gateway-8-clients", "orders", orders_result()),
    )
    eight["command"] = eight["command"].replace("--json", "--clients 8 --json")

    page = report.render(manifest_of(four, eight), {})

    figures = page.split("## Figures")[1]
    assert "| gateway | " in figures
    assert "| gateway-8-clients | " in figures


def test_memory_table_lists_every_process_of_every_run():
    page = report.render(manifest_of(run_of("orders", "orders", orders_result())), {})

    assert "| orders | orders (gunicorn) | 212 |" in page
    assert "| orders | catalog stand-in (gunicorn) | 46.5 |" in page


def test_a_smoke_page_says_its_figures_are_not_measurements():
    page = report.render(manifest_of(run_of("orders", "orders", orders_result()), smoke=True), {})

    assert "the figures are not measurements" in page


def test_a_pipe_in_a_measure_does_not_break_the_table():
    result = report.result(
        "x", config={}, figures=[report.figure("a | b", 1.0, "ms")], rss_mb={}, samples_ms={}
    )

    page = report.render(manifest_of(run_of("x", "x", result)), {})

    assert "| x | a \\| b | 1.00 ms |" in page


def test_write_round_trips_and_refuses_a_figure_without_a_number(tmp_path):
    written = tmp_path / "orders.json"
    report.write(written, orders_result())
    assert json.loads(written.read_text()) == orders_result()

    broken = orders_result()
    broken["figures"][0]["value"] = "fast"
    with pytest.raises(ValueError, match="no numeric value"):
        report.write(tmp_path / "broken.json", broken)


def test_validate_names_each_problem():
    problems = report.validate(
        {"bench": "orders", "rss_mb": [], "figures": [{"measure": "m", "value": 1, "met": "yes"}]}
    )

    assert problems == ["'rss_mb' is not an object", "figure 0 (m): met is not a boolean"]
    assert report.validate({"bench": "orders"}) == ["'figures' is not a list"]


def test_rss_of_a_process_counts_its_children():
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; block = bytearray(64 * 1024 * 1024); print('ready', flush=True); "
            "sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout.readline().strip() == "ready"
        child_alone = report.rss_mb(child.pid)
        family = report.rss_mb(os.getpid())
        own = next(
            int(line.split()[1]) / 1024
            for line in Path("/proc/self/status").read_text().splitlines()
            if line.startswith("VmRSS:")
        )
    finally:
        child.stdin.close()
        child.wait()

    assert child_alone >= 64
    assert family - own >= 60  # the child's block is counted in its parent's tree


def test_plots_are_drawn_and_linked_from_the_page(tmp_path):
    manifest = manifest_of(
        run_of("orders", "orders", orders_result()),
        run_of("catalog-10k", "catalog", catalog_result(10_000, 1.5, 4.0, 30_000.0, 320.0, False)),
        run_of(
            "catalog-1m", "catalog", catalog_result(1_000_000, 2.7, 303.0, 25_000.0, 300.0, False)
        ),
    )

    plots = report.draw_plots(manifest, tmp_path)
    page = report.render(manifest, plots)

    for name in (report.LATENCY_PLOT, report.SCALING_PLOT):
        assert (tmp_path / name).read_bytes().startswith(b"\x89PNG")
        assert f"]({name})" in page


def test_a_script_offering_json_is_told_from_one_that_does_not(tmp_path):
    (tmp_path / "with_json.py").write_text(
        "import argparse\np = argparse.ArgumentParser()\np.add_argument('--json')\np.parse_args()\n"
    )
    without = "import argparse\nargparse.ArgumentParser().parse_args()\n"
    (tmp_path / "without.py").write_text(without)
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}

    assert suite.offers_json(sys.executable, "with_json", env)
    assert not suite.offers_json(sys.executable, "without", env)


def test_junit_counts_a_failed_run_as_a_failure_and_one_not_run_as_skipped(tmp_path):
    runs = [
        run_of("orders", "orders", orders_result()),
        run_of("notifier", "notifier", status="failed", detail="exit 1"),
        run_of("catalog", "catalog", status="not run", detail="script lacks --json"),
    ]

    suite.write_junit(tmp_path / "bench-smoke.xml", runs)

    root = ET.parse(tmp_path / "bench-smoke.xml").getroot()  # noqa: S314 - written just above
    assert (root.get("tests"), root.get("failures"), root.get("skipped")) == ("3", "1", "1")
    cases = {case.get("name"): case for case in root.iter("testcase")}
    assert cases["notifier"].find("failure").get("message") == "exit 1"
    assert cases["catalog"].find("skipped").get("message") == "script lacks --json"
    assert list(cases["orders"]) == []


def test_rerunning_some_benches_keeps_the_others_in_plan_order():
    plan = [suite.Planned(name, name, name) for name in ("catalog-1m", "gateway", "notifier")]
    earlier = [run_of("catalog-1m", "catalog"), run_of("notifier", "notifier", detail="old")]
    fresh = [run_of("notifier", "notifier", detail="new"), run_of("gateway", "gateway")]
    merged = suite.merged_runs(earlier, fresh, plan)
    assert [(run["name"], run["detail"]) for run in merged] == [
        ("catalog-1m", ""),
        ("gateway", ""),
        ("notifier", "new"),
    ]


def test_drawing_the_page_again_keeps_the_section_another_script_wrote(tmp_path):
    page = tmp_path / "benchmarks.md"
    scale = (
        "<!-- catalog at scale: bench/catalog/scale.py writes this section -->\n"
        "## Catalog at scale\n\n| measure | value |\n|---|---|\n| upload | 4,922 products/s |\n"
        "<!-- end of catalog at scale -->"
    )
    page.write_text(f"# Benchmarks\n\nan earlier page\n\n{scale}\n")

    suite.publish(manifest_of(run_of("orders", "orders", orders_result())), page)

    text = page.read_text()
    assert "an earlier page" not in text
    assert "orders placed per second" in text
    assert text.endswith(f"\n\n{scale}\n")
    suite.publish(manifest_of(run_of("orders", "orders", orders_result())), page)
    assert page.read_text() == text
