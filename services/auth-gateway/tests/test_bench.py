"""The gateway benchmark (python -m bench.gateway.run) still runs: its smoke mode, a few seconds."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
CATALOG_PYTHON = ROOT / ".venvs" / "catalog" / "bin" / "python"


@pytest.mark.skipif(
    not CATALOG_PYTHON.exists(),
    reason="the benchmark runs the real catalog: scripts/ensure-venv .venvs/catalog "
    "services/catalog/requirements-test.txt",
)
def test_the_gateway_benchmark_measures_every_read_both_ways_and_through_both_paths(
    tmp_path,
) -> None:
    server = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/x").rsplit("/", 1)
    written = tmp_path / "gateway.json"
    finished = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.gateway.run",
            "--smoke",
            "--bare-proxy",
            "--json",
            str(written),
        ],
        cwd=ROOT,
        env={**os.environ, "BENCH_DATABASE_SERVER": server[0]},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert finished.returncode == 0, (
        f"exit {finished.returncode}\n{finished.stdout[-3000:]}\n{finished.stderr[-3000:]}"
    )
    report = json.loads(written.read_text())
    assert report["bench"] == "gateway"
    by_measure = {figure["measure"]: figure for figure in report["figures"]}
    for read in ("list", "detail", "average_price"):
        for way in ("anonymous", "bearer token"):
            direct = by_measure[f"p50 {read}, catalog, {way}"]
            assert direct["value"] > 0 and direct["baseline"] is None and direct["met"] is None
            proxied = by_measure[f"p50 {read}, gateway, {way}"]
            assert proxied["baseline"] == direct["value"]
            assert proxied["ratio"] == pytest.approx(proxied["value"] / direct["value"], rel=1e-3)
            assert proxied["target"] == "<= 1.30x catalog p50"
            assert agrees(proxied["met"], proxied["ratio"], 1.30)
            assert by_measure[f"req/s {read}, gateway, {way}"]["value"] > 0
            cpu = by_measure[f"proxy CPU per call {read}, gateway, {way}"]
            assert cpu["value"] > 0 and cpu["target"] == "<= 0.5 ms"
            assert agrees(cpu["met"], cpu["value"], 0.5)
            assert report["samples_ms"][f"{read}, gateway, {way}"]
        # The floor beside them: the same reads through a proxy that only proxies, held to nothing.
        bare = by_measure[f"p50 {read}, bare proxy, anonymous"]
        assert bare["baseline"] == by_measure[f"p50 {read}, catalog, anonymous"]["value"]
        assert bare["target"] is None and bare["met"] is None
        assert by_measure[f"proxy CPU per call {read}, bare proxy, anonymous"]["value"] > 0
    assert {"gateway master", "gateway worker 1", "catalog master", "catalog worker 1"} <= set(
        report["rss_mb"]
    )
    assert all(megabytes > 0 for megabytes in report["rss_mb"].values())


def agrees(met: bool, figure: float, limit: float) -> bool:
    """Whether a verdict reached on the unrounded figure agrees with the figure as the report
    rounds it (4 decimals): either verdict stands for a figure within rounding of the limit."""
    if abs(figure - limit) <= 1e-4:
        return isinstance(met, bool)
    return met is (figure <= limit)
