"""ServerThread: every stand-in's way of serving beside a test or a script."""

import socket
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
