"""What bench/harness.py promises a script, tried on a script run as the benches run."""

import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PREFIX = "bench-sigterm-"
SCRIPT = f"""
import time
from bench import harness
if {{with_parser}}:
    harness.parser()
with harness.scratch_folder({PREFIX!r}) as folder:
    print(folder, flush=True)
    time.sleep(60)
"""


def _scratch(line: str) -> Path | None:
    """The folder a script printed, if it is one of its scratch folders (nothing else is
    ever removed here)."""
    folder = Path(line)
    if line and folder.name.startswith(PREFIX) and folder.parent == Path(tempfile.gettempdir()):
        return folder
    return None


@pytest.mark.parametrize(("with_parser", "released"), [(True, True), (False, False)])
def test_sigterm_releases_what_the_script_holds(with_parser: bool, released: bool) -> None:
    """After harness.parser(), SIGTERM ends the script through its cleanups; without it,
    Python's default ends it at once and leaves its folder (and its servers) behind."""
    script = subprocess.Popen(
        [sys.executable, "-c", SCRIPT.format(with_parser=with_parser)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    line = script.stdout.readline().strip()
    folder = _scratch(line)
    try:
        assert folder is not None and folder.is_dir(), f"the script printed {line!r}"
        script.send_signal(signal.SIGTERM)
        code = script.wait(timeout=30)
        assert code == (128 + signal.SIGTERM if with_parser else -signal.SIGTERM)
        assert folder.exists() is not released
    finally:
        script.kill()
        script.wait()
        script.stdout.close()
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
