"""ServerThread and serve_until_stopped: every stand-in's way of serving beside a test or a
script, and of running as a process until it is told to stop."""

import socket
import subprocess
import sys
import textwrap
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ecomms_standins.serving import ServerThread


class _Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "5")
        self.end_headers()
        self.wfile.write(b"hello")

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_it_serves_for_the_block_then_frees_the_port():
    with ServerThread(ThreadingHTTPServer(("127.0.0.1", 0), _Hello)) as serving:
        with urllib.request.urlopen(serving.url, timeout=5) as response:
            assert response.read() == b"hello"
        port = serving.server.server_address[1]
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5)


def test_closing_one_that_never_started_frees_the_port():
    serving = ServerThread(ThreadingHTTPServer(("127.0.0.1", 0), _Hello))
    port = serving.server.server_address[1]
    serving.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5)


# A process that serves until stopped, whose signals land on a thread other than the main one:
# the thread sends them to itself (pthread_kill), SIGUSR1 first (counted by a handler of the
# script's own, as the TCP proxy's cut), then SIGTERM.
SIGNALLED_ON_ANOTHER_THREAD = textwrap.dedent(
    """
    import signal, threading
    from ecomms_standins.serving import serve_until_stopped

    seen = threading.Event()
    signal.signal(signal.SIGUSR1, lambda *_: seen.set())

    def signaller():
        signal.pthread_kill(threading.get_ident(), signal.SIGUSR1)
        if seen.wait(5):
            print("SIGUSR1 handled", flush=True)
        signal.pthread_kill(threading.get_ident(), signal.SIGTERM)

    threading.Timer(0.3, signaller).start()
    serve_until_stopped("serving")
    print("stopped", flush=True)
    """
)


def test_a_signal_that_lands_on_another_thread_is_handled_at_once():
    finished = subprocess.run(
        [sys.executable, "-c", SIGNALLED_ON_ANOTHER_THREAD],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert (finished.returncode, finished.stdout.split("\n")) == (
        0,
        ["serving", "SIGUSR1 handled", "stopped", ""],
    ), finished.stderr
