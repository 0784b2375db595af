"""docker-compose.yml as docker compose itself resolves it (anchors, merges, defaults)."""

import functools
import json
import subprocess
import sys
from pathlib import Path

from .dockerfiles import ROOT

BIN = Path(sys.executable).parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
# The environment compose reads for interpolation: nothing from the caller's shell.
CLEAN_ENV = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"}


def compose(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [BIN / "docker-compose", "--project-directory", ROOT, "-f", COMPOSE_FILE, *args],
        capture_output=True,
        text=True,
        env=CLEAN_ENV,
        check=False,
    )


@functools.cache
def resolved() -> dict:
    result = compose("config", "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)
