"""Benchmark: a catalog read through the gateway next to the same read sent straight to catalog.

Starts, on 127.0.0.1 ports chosen by the OS: a catalog (the stand-in page in catalog_standin.py
under gunicorn, or ``--catalog-url`` of a running catalog) and the gateway (gunicorn, its own
settings, a throwaway SQLite database and signing key). Then, with the same client load, it reads
``--path`` straight from catalog, through the gateway anonymously (a public read), and through
the gateway with a bearer token (verified before proxying), alternating between them in rounds
so that load from elsewhere on the machine weighs on all three alike. Prints requests/s, p50 and
p99 and the gateway's p50 against the direct one. Bounded: ``--seconds`` per target.

    .venvs/auth-gateway/bin/python bench/gateway/run.py [--seconds 10] [--clients 4]
"""

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
GATEWAY = ROOT / "services" / "auth-gateway"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_up(url: str, deadline: float = 30.0) -> None:
    stop = time.monotonic() + deadline
    while time.monotonic() < stop:
        try:
            if requests.get(url, timeout=1).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise SystemExit(f"bench: {url} did not come up")


def start(command: list[str], *, cwd: Path, env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        command,
        cwd=cwd,
        env={**os.environ, **env},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def gunicorn(app: str, port: int, workers: int) -> list[str]:
    return [
        sys.executable, "-m", "gunicorn", app,
        "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
        "--access-logfile", "/dev/null", "--log-level", "warning",
    ]  # fmt: skip


@dataclass
class Measured:
    latencies: list[float] = field(default_factory=list)
    failures: int = 0
    seconds: float = 0.0

    def figures(self) -> dict[str, float]:
        samples = sorted(self.latencies)
        return {
            "requests": len(samples),
            "failures": self.failures,
            "rps": len(samples) / self.seconds,
            "p50_ms": statistics.median(samples) * 1000,
            "p99_ms": samples[min(len(samples) - 1, int(len(samples) * 0.99))] * 1000,
        }


def load(url: str, *, seconds: float, clients: int, headers: dict[str, str]) -> Measured:
    """Send GETs from ``clients`` keep-alive connections for ``seconds``; return what was seen."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    failures = [0] * clients
    stop_at = time.monotonic() + seconds

    def client(index: int) -> None:
        with requests.Session() as session:
            while time.monotonic() < stop_at:
                started = time.perf_counter()
                response = session.get(url, headers=headers, timeout=10)
                elapsed = time.perf_counter() - started
                if response.status_code == 200:
                    latencies[index].append(elapsed)
                else:
                    failures[index] += 1

    threads = [threading.Thread(target=client, args=(index,)) for index in range(clients)]
    begun = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    samples = [sample for per_client in latencies for sample in per_client]
    if not samples:
        raise SystemExit(f"bench: no successful response from {url}")
    return Measured(latencies=samples, failures=sum(failures), seconds=time.monotonic() - begun)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="load time per target")
    parser.add_argument(
        "--rounds", type=int, default=5, help="alternate the targets this many times"
    )
    parser.add_argument("--clients", type=int, default=4, help="concurrent keep-alive clients")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers per server")
    parser.add_argument("--catalog-url", help="a running catalog instead of the stand-in")
    parser.add_argument("--path", default="/products/", help="the catalog read to measure")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="ecomms-bench-"))
    processes: list[subprocess.Popen] = []
    try:
        catalog_url = args.catalog_url
        if not catalog_url:
            port = free_port()
            processes.append(
                start(
                    gunicorn("bench.gateway.catalog_standin:application", port, args.workers),
                    cwd=ROOT,
                    env={},
                    log=scratch / "catalog.log",
                )
            )
            catalog_url = f"http://127.0.0.1:{port}"
        wait_until_up(catalog_url + args.path)

        key = scratch / "jwt.pem"
        gateway_env = {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": f"sqlite:///{scratch / 'gateway.sqlite3'}",
            "JWT_PRIVATE_KEY_FILE": str(key),
            "CATALOG_URL": catalog_url,
            "RATE_LIMIT": "1000000/m",  # measured, but never reached
            "LOG_LEVEL": "WARNING",
        }
        manage = [sys.executable, "manage.py"]
        for command in (["migrate", "-v0"], ["generate_signing_key", str(key)]):
            subprocess.run(
                manage + command, cwd=GATEWAY, env={**os.environ, **gateway_env}, check=True
            )
        port = free_port()
        processes.append(
            start(
                gunicorn("config.wsgi:application", port, args.workers),
                cwd=GATEWAY,
                env=gateway_env,
                log=scratch / "gateway.log",
            )
        )
        gateway_url = f"http://127.0.0.1:{port}"
        wait_until_up(gateway_url + "/healthz")
        token = subprocess.run(
            [*manage, "shell", "-c", ISSUE_PAIR_SCRIPT],
            cwd=GATEWAY,
            env={**os.environ, **gateway_env},
            check=True,
            capture_output=True,
            text=True,
        ).stdout.splitlines()[-1]

        targets = [
            ("catalog, direct", catalog_url + args.path, {}),
            ("gateway, anonymous", gateway_url + args.path, {}),
            (
                "gateway, bearer token",
                gateway_url + args.path,
                {"Authorization": f"Bearer {token}"},
            ),
        ]
        for _, url, headers in targets:  # warm up connections and workers
            load(url, seconds=1.0, clients=args.clients, headers=headers)
        # Interleaved rounds: a noisy neighbour slows every target alike, not just one.
        measured = {name: Measured() for name, _, _ in targets}
        for _ in range(args.rounds):
            for name, url, headers in targets:
                round_ = load(
                    url, seconds=args.seconds / args.rounds, clients=args.clients, headers=headers
                )
                measured[name].latencies += round_.latencies
                measured[name].failures += round_.failures
                measured[name].seconds += round_.seconds
        results = [(name, measured[name].figures()) for name, _, _ in targets]
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            process.wait(timeout=30)

    baseline = results[0][1]["p50_ms"]
    print(
        f"\nGET {args.path}, {args.clients} clients x {args.seconds:g}s each "
        f"(in {args.rounds} interleaved rounds), "
        f"{args.workers} gunicorn workers per server, {os.cpu_count()} CPUs\n"
    )
    print(f"{'target':24} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}", end="")
    print(f" {'p50 vs direct':>14} {'errors':>7}")
    for name, figures in results:
        ratio = figures["p50_ms"] / baseline
        print(
            f"{name:24} {figures['rps']:8.0f} {figures['p50_ms']:8.2f} {figures['p99_ms']:8.2f} "
            f"{ratio:13.2f}x {figures['failures']:7d}"
        )
    added = results[1][1]["p50_ms"] / baseline - 1
    added_ms = results[1][1]["p50_ms"] - baseline
    verdict = "meets" if added <= 0.30 else "misses"
    print(
        f"\ngateway adds {added:+.0%} ({added_ms:+.2f} ms) to p50 of an anonymous read "
        f"(target: at most +30%): {verdict} the target"
    )


ISSUE_PAIR_SCRIPT = """
from gateway.services import token_pair_issue, user_link_from_claims
user = user_link_from_claims(claims={"sub": "bench", "email": "bench@example.com"})
print(token_pair_issue(user=user).access)
"""

if __name__ == "__main__":
    main()
