"""GitHub Actions workflows: actionlint (with shellcheck) and what each must do."""

import os
import subprocess
import sys
from pathlib import Path

import yaml

from .dockerfiles import ROOT, SERVICES
from .manifests import OVERLAYS

BIN = Path(sys.executable).parent
WORKFLOWS = ROOT / ".github" / "workflows"


def lint(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{BIN}:/usr/bin:/bin"}  # actionlint finds shellcheck on PATH
    return subprocess.run(
        [BIN / "actionlint", "-no-color", "-oneline", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def workflow(name: str) -> dict:
    data = yaml.safe_load((WORKFLOWS / f"{name}.yml").read_text())
    data["on"] = data.pop(True)  # YAML 1.1 reads the key `on` as true
    return data


def test_actionlint_with_shellcheck_finds_nothing():
    result = lint()
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_does_report_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n"
        "      - run: echo ${{ github.no_such_thing }}\n"
    )
    assert lint(str(broken)).returncode != 0


def test_scripts_pass_shellcheck():
    scripts = [ROOT / "scripts" / "check", ROOT / "scripts" / "k8s-secrets"]
    result = subprocess.run(
        [BIN / "shellcheck", *scripts], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout


def test_one_pipeline_called_for_each_service():
    caller = workflow("services")
    filters = yaml.safe_load(
        next(s for s in caller["jobs"]["changes"]["steps"] if s.get("id") == "filter")["with"][
            "filters"
        ]
    )
    for service in SERVICES:  # each service's own files, and everything all of them share
        paths = filters[service]
        assert f"services/{service}/**" in paths
        for shared in ("libs/common/**", "deploy/docker/service.Dockerfile", "docker-compose.yml"):
            assert shared in str(paths)
    job = caller["jobs"]["service"]
    assert job["uses"] == "./.github/workflows/service.yml"
    assert job["with"]["service"] == "${{ matrix.service }}"
    assert sorted(path.name for path in WORKFLOWS.iterdir()) == [
        "kind.yml",
        "service.yml",
        "services.yml",
    ]


def test_service_pipeline():
    data = workflow("service")
    assert data["on"]["workflow_call"]["inputs"]["service"]["required"] is True
    test = data["jobs"]["test"]
    assert {"postgres", "rabbitmq", "redis"} <= test["services"].keys()
    runs = " ".join(step.get("run", "") for step in test["steps"])
    assert "scripts/lint" in runs
    assert "PACKAGES=services/${{ inputs.service }} scripts/test --cov-fail-under=85" in runs
    image = data["jobs"]["image"]
    assert image["needs"] == "test"
    build = next(s for s in image["steps"] if s.get("uses", "").startswith("docker/build-push"))
    assert build["with"]["file"] == "deploy/docker/service.Dockerfile"
    assert build["with"]["context"] == "."
    assert build["with"]["build-args"] == "${{ env.BUILD_ARGS }}"
    assert build["with"]["tags"].endswith(":${{ github.sha }}")
    push_on_main = "github.event_name == 'push' && github.ref == 'refs/heads/main'"
    assert push_on_main in build["with"]["push"]
    image_runs = " ".join(step.get("run", "") for step in image["steps"])
    assert "ghcr.io/" in image_runs
    assert "docker compose config --format json" in image_runs  # the build arguments' one source
    assert image["permissions"]["packages"] == "write"


def test_kind_workflow_deploys_an_overlay_and_smoke_tests_through_the_ingress():
    data = workflow("kind")
    steps = data["jobs"]["deploy-and-smoke"]["steps"]
    runs = "\n".join(step.get("run", "") for step in steps)
    assert f"docker compose build {' '.join(SERVICES)}" in runs
    applied = [line.split()[-1] for line in runs.splitlines() if "kubectl apply -k" in line]
    assert applied == ["k8s/overlays/kind"] * 2  # the README's step 4, then again as after a change
    assert "kind" in OVERLAYS
    assert "Host: ecomms.local" in runs
    assert any(step.get("uses", "").startswith("helm/kind-action") for step in steps)
    kind_step = next(s for s in steps if s.get("uses", "").startswith("helm/kind-action"))
    assert (ROOT / kind_step["with"]["config"]).is_file()
