"""Real gateway server processes for tests that need more than one process."""

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

GATEWAY = Path(__file__).resolve().parents[1]
LISTENING = re.compile(r"Listening at: (http://127\.0\.0\.1:\d+)")


def gateway_command() -> list[str]:
    """Return how a gateway server is started: the one place to change it.

    The gateway's application on its own worker class (the edge), with no other settings of the
    folder's ``gunicorn.conf.py`` (``/dev/null`` instead), so what is measured is the limit alone.
    """
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "--config",
        "/dev/null",
        "config.asgi:application",
        "--worker-class",
        "gateway.edge.worker.EdgeWorker",
        "--workers",
        "2",
        "--bind",
        "127.0.0.1:0",  # the OS picks the port; the server logs it
    ]


class GatewayProcess:
    """A gateway server (master and workers) on an ephemeral port of 127.0.0.1."""

    def __init__(self, env: dict[str, str]) -> None:
        self.url = ""
        # Read through handles of its own: seeking the child's would move where the child writes.
        log_fd, self._log_path = tempfile.mkstemp(prefix="gateway-", suffix=".log")
        self._process = subprocess.Popen(
            gateway_command(),
            cwd=GATEWAY,
            env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
            stdout=subprocess.DEVNULL,
            stderr=log_fd,
            start_new_session=True,
        )
        os.close(log_fd)
        self._wait_until_up()

    def stop(self) -> None:
        if self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGTERM)
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait(5)
        os.unlink(self._log_path)

    def log(self) -> str:
        """Return what the server has written to its stderr so far."""
        with open(self._log_path, errors="replace") as log:
            return log.read()

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"gateway exited: {self.log()}")
            listening = LISTENING.search(self.log())
            if listening is None:
                time.sleep(0.1)
                continue
            self.url = listening.group(1)
            try:
                if requests.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("gateway did not answer /healthz within 30 s")
