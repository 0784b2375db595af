"""The images: one recipe for the four services, linted, small and non-root."""

import fnmatch
import subprocess
import sys
from pathlib import Path

import pytest

from .dockerfiles import (
    LOCAL_SERVERS,
    ROOT,
    SERVICES,
    TEMPLATE,
    build_args,
    final_stage,
    service_stages,
)

BIN = Path(sys.executable).parent


@pytest.mark.parametrize("path", [TEMPLATE, LOCAL_SERVERS], ids=lambda path: path.name)
def test_hadolint_finds_nothing(path):
    result = subprocess.run(
        [BIN / "hadolint", "--no-color", "--failure-threshold", "style", path],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("service", SERVICES)
def test_multi_stage_slim_non_root_with_healthcheck(service):
    all_stages = service_stages(service)
    final = all_stages[-1]
    assert len(all_stages) >= 2
    assert all(stage.base == "python:3.12-slim" for stage in all_stages)
    assert final.user == "10001:10001"
    assert final.all("HEALTHCHECK"), "no HEALTHCHECK in the final stage"
    assert "/healthz" in final.all("HEALTHCHECK")[-1]
    # Nothing is built in the final stage: it copies the builder's venv and app.
    copies = " ".join(final.all("COPY"))
    assert "--from=builder /opt/venv" in copies
    assert not any("pip install" in run for run in final.all("RUN"))
    assert not any(word in " ".join(final.all("RUN")) for word in ("gcc", "build-essential"))


@pytest.mark.parametrize("service", SERVICES)
def test_builder_installs_pinned_requirements_and_common(service):
    builder = next(stage for stage in service_stages(service) if stage.name == "builder")
    runs = " ".join(builder.all("RUN"))
    copies = " ".join(builder.all("COPY"))
    assert f"services/{service}/requirements.txt" in copies
    assert "pip install --no-cache-dir -r /build/requirements.txt" in runs
    assert "pip install --no-cache-dir --no-deps /build/libs/common" in runs
    assert "collectstatic" in runs
    for line in (ROOT / "services" / service / "requirements.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            assert "==" in line, f"unpinned requirement {line!r}"


def dockerignore() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def ignored(path: str) -> bool:
    """Whether a path of the build context is left out (the patterns we use: no negation)."""
    parts = path.split("/")
    for pattern in dockerignore():
        bare = pattern.removeprefix("**/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if pattern.startswith("**/"):
            if any(fnmatch.fnmatch(part, bare) for part in parts):
                return True
        elif any(fnmatch.fnmatch(prefix, pattern) for prefix in prefixes):
            return True
    return False


def test_dockerignore_keeps_tests_and_local_state_out():
    for path in (
        ".git",
        ".venvs/catalog",
        "var/mail",
        "services/catalog/tests/test_x.py",
        "libs/common/src/ecomms_common.egg-info",
    ):
        assert ignored(path), path


@pytest.mark.parametrize("service", SERVICES)
def test_what_the_dockerfile_copies_is_in_the_build_context(service):
    for stage in service_stages(service):
        for args in stage.all("COPY"):
            if args.startswith("--from="):
                continue
            *sources, _destination = args.split()
            for source in sources:
                assert (ROOT / source).exists(), source
                assert not ignored(source), f"{source} is left out by .dockerignore"
    # and what runs in the image is not left out
    assert not ignored(f"services/{service}/manage.py")
    if final_stage(service).cmd[0] == "gunicorn":  # gunicorn reads ./gunicorn.conf.py (its app)
        assert not ignored(f"services/{service}/gunicorn.conf.py")
        assert (ROOT / "services" / service / "gunicorn.conf.py").is_file()
    assert not ignored("libs/common/src/ecomms_common/base_settings.py")


@pytest.mark.parametrize("service", SERVICES)
def test_final_image_sets_static_root_and_port(service):
    env = final_stage(service).env
    assert env["STATIC_ROOT"] == "/app/staticfiles"
    assert env["WHITENOISE_USE_FINDERS"] == "false"
    assert env["PORT"].isdigit()
    assert "PROMETHEUS_MULTIPROC_DIR" not in env  # set for the web process only (see Dockerfile)


@pytest.mark.parametrize("path", [TEMPLATE, LOCAL_SERVERS], ids=lambda path: path.name)
def test_recipes_build_offline_with_any_builder(path):
    # A `# syntax=` line makes BuildKit fetch a frontend image first: no offline build.
    assert not any(line.startswith("# syntax") for line in path.read_text().splitlines())


def test_no_service_image_holds_the_local_oidc_provider():
    # Older builders build every stage before the target: the provider has a file of its own.
    for service in SERVICES:
        assert [stage.name for stage in service_stages(service)] == ["builder", None]
        assert "oidc" not in TEMPLATE.read_text().lower()


@pytest.mark.parametrize("service", SERVICES)
def test_build_arguments_name_the_service_and_its_port(service):
    args = build_args(service)
    assert args["SERVICE"] == service
    gunicorn_conf = (ROOT / "services" / service / "gunicorn.conf.py").read_text()
    assert f"bind_address(default_port={args['PORT']})" in gunicorn_conf
    final = final_stage(service)
    assert final.env["PORT"] == args["PORT"]
    assert final.all("EXPOSE") == [args["PORT"]]
    assert final.cmd == (args.get("COMMAND") or "gunicorn").split()
