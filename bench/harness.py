"""What every benchmark script does alike: its common options, throwaway databases, gunicorn
servers (started, awaited, measured, stopped), keep-alive clients and the load loop, and the
printed table of figures.

A script imports it as ``from bench import harness``, being run as a module from the repository
root (``python -m bench.<name>.run``). It needs the standard library, and psycopg in the
database helpers, which import it themselves (every bench virtual environment has psycopg;
bench/tests, in the report's environment, import this module without it).
"""

import argparse
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench import report

SERVER = os.environ.get("BENCH_DATABASE_SERVER", "postgres://postgres@127.0.0.1:5432")


# Options


def parser(description: str | None = None) -> argparse.ArgumentParser:
    """Return a parser holding the options every script takes: --json and --smoke.

    From here on SIGTERM stops the script as Ctrl-C does, by an exception in its main thread,
    so that its servers, databases and folders are released (Python's default is to end at
    once: the servers, in sessions of their own, stayed up)."""
    signal.signal(signal.SIGTERM, _exit_on_signal)
    options = argparse.ArgumentParser(description=description)
    options.add_argument("--json", type=Path, help="also write the figures and samples here")
    options.add_argument(
        "--smoke", action="store_true", help="a few seconds, figures not meaningful (tests)"
    )
    return options


def _exit_on_signal(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


# Scratch folders and setup steps


@contextmanager
def scratch_folder(prefix: str) -> Iterator[Path]:
    """Yield a new temporary folder (servers' logs, keys, data files); remove it however the
    block ends, after printing the end of each log in it when the block failed."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield folder
    except BaseException:
        for log in sorted(folder.glob("*.log")):
            lines = log.read_text(errors="replace").splitlines()[-LOG_LINES_SHOWN:]
            if lines:
                print(f"--- end of {log.name}", *lines, sep="\n", file=sys.stderr)
        raise
    finally:
        shutil.rmtree(folder, ignore_errors=True)


LOG_LINES_SHOWN = 15


def setup_step(command: list[str], *, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    """Run a step that prepares a run (migrate, an import, a token); return it, its output
    captured. When it fails, exit the bench with one line: the step and the last line it wrote,
    which for a service refusing its settings (a weak SECRET_KEY, say) is Django's reason."""
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        said = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()]
        step = " ".join(Path(part).name if part.startswith("/") else part for part in command)
        last = said[-1] if said else "(no output)"
        raise SystemExit(f"bench: {step} failed (exit {done.returncode}): {last}")
    return done


# Throwaway databases


def database_recreate(server: str, name: str) -> None:
    """Make ``name`` an empty database on ``server`` (a postgres:// URL with no database)."""
    import psycopg

    with psycopg.connect(f"{server}/postgres", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')


def database_drop(server: str, name: str) -> None:
    """Drop ``name`` from ``server``, closing whatever still uses it."""
    import psycopg

    with psycopg.connect(f"{server}/postgres", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def throwaway_databases(*names: str, server: str = SERVER) -> Iterator[list[str]]:
    """Create empty databases; yield their URLs; drop them however the block ends."""
    for name in names:
        database_recreate(server, name)
    try:
        yield [f"{server}/{name}" for name in names]
    finally:
        for name in names:
            database_drop(server, name)


# Servers


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """GET once on a fresh connection; return the status and the body."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def wait_until_up(port: int, path: str, deadline: float = 60.0) -> None:
    """Return once ``path`` answers below 500; exit the bench if it does not within deadline."""
    stop = time.monotonic() + deadline
    while time.monotonic() < stop:
        try:
            if get(port, path)[0] < 500:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"bench: 127.0.0.1:{port}{path} did not come up")


def gunicorn(python: Path | str, app: str, port: int, workers: int) -> list[str]:
    """The command serving ``app`` on 127.0.0.1:port with ``workers`` workers, quietly."""
    return [
        str(python), "-m", "gunicorn", app,
        "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
        "--access-logfile", "/dev/null", "--log-level", "warning",
    ]  # fmt: skip


class Server:
    """A server (a gunicorn master, say) started in its own process group, with its log file."""

    def __init__(
        self, name: str, command: list[str], *, cwd: Path, env: dict, log: Path, port: int = 0
    ):
        self.name, self.log, self.port = name, log, port  # port: where it serves, if known
        self.process = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def rss_mb(self) -> dict[str, float]:
        """Return VmRSS of the master and of each worker, in MiB."""
        found = {}
        for number, pid in enumerate(report.process_tree(self.process.pid)):
            label = f"{self.name} master" if number == 0 else f"{self.name} worker {number}"
            rss = vm_rss_kib(pid)
            if rss is not None:
                found[label] = round(rss / 1024, 1)
        return found

    def cpu_seconds(self) -> float:
        """Return the CPU time the master and its workers have used so far."""
        return report.cpu_seconds(self.process.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


def vm_rss_kib(pid: int) -> int | None:
    """Return the resident memory of one process (its descendants left out), or None."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None


def otlp_sink() -> tuple[subprocess.Popen, dict[str, str]]:
    """Start an OTLP/HTTP sink that accepts and discards spans (``ecomms-otlp-sink`` of
    libs/standins); return it and the environment that makes a service trace everything to it."""
    port = free_port()
    sink = Path(sys.executable).with_name("ecomms-otlp-sink")
    process = subprocess.Popen([str(sink), "--port", str(port)])
    return process, {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
        "OTEL_TRACES_SAMPLER": "always_on",
        "OTEL_SDK_DISABLED": "false",
    }


# Clients and load


class Client:
    """One keep-alive HTTP connection that reconnects when the server closes it."""

    def __init__(self, port: int, timeout: float):
        self.port, self.timeout = port, timeout
        self.connection: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: bytes | None = None, headers=None) -> bytes:
        """Send one request; return the body of a 2xx answer, raise on any other."""
        for attempt in (1, 2):
            if self.connection is None:
                self.connection = http.client.HTTPConnection(
                    "127.0.0.1", self.port, timeout=self.timeout
                )
            try:
                self.connection.request(method, path, body=body, headers=headers or {})
                reply = self.connection.getresponse()
                content = reply.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close()  # the server closed a kept-alive connection: send once more
                if attempt == 2:
                    raise
                continue
            except (OSError, http.client.HTTPException):
                self.close()
                raise
            if reply.getheader("Connection", "").lower() == "close":
                self.close()
            if reply.status >= 300:
                raise RuntimeError(f"{method} {path}: {reply.status} {content[:300]!r}")
            return content
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def run_threads(target: Callable[..., Any], count: int, *, indexed: bool = False) -> float:
    """Run target in count threads at once (given its index if ``indexed``); return the seconds
    until the last one ended."""
    started = time.perf_counter()
    pool = [
        threading.Thread(target=target, args=(index,) if indexed else ()) for index in range(count)
    ]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return time.perf_counter() - started


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# Results


def print_figures(bench_label: str, figures: list[dict], header: str | None = None) -> None:
    """Print the figures as a Markdown table (the page's columns, the bench's name left out)."""
    print(header or "| measure | ecomms | baseline (same run, same data) | ratio | target | met |")
    print("|---|---|---|---|---|---|")
    for item in figures:
        print("| " + " | ".join(report.figure_row(bench_label, item)[1:]) + " |")
