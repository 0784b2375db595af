"""A TCP proxy on 127.0.0.1 that a test can cut and restore, to take a server "down" for one client.

The shared RabbitMQ and PostgreSQL are never stopped in tests: code under test connects through
a proxy instead, and the test cuts it::

    with TcpProxy("127.0.0.1", 5672) as proxy:
        url = f"amqp://guest:guest@127.0.0.1:{proxy.port}/"
        proxy.cut()      # open connections are dropped, new ones are closed at once
        proxy.restore()

As a process (``ecomms-tcpproxy --port 15672 --upstream 127.0.0.1:5672``), SIGUSR1 cuts it and
SIGUSR2 restores it.
"""

import argparse
import contextlib
import signal
import socket
import threading

from ecomms_standins.serving import serve_until_stopped


class TcpProxy:
    def __init__(self, upstream_host: str, upstream_port: int, *, port: int = 0) -> None:
        self.upstream = (upstream_host, upstream_port)
        self._listener = socket.create_server(("127.0.0.1", port))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._cut = False
        self._closed = False
        self._thread = threading.Thread(target=self._accept, name="tcp-proxy", daemon=True)
        self._thread.start()

    def __enter__(self) -> "TcpProxy":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def cut(self) -> None:
        """Drop every open connection and refuse new ones until :meth:`restore`."""
        with self._lock:
            self._cut = True
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            _close(sock)

    def restore(self) -> None:
        with self._lock:
            self._cut = False

    def close(self) -> None:
        self._closed = True
        self.cut()
        _close(self._listener)

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                refused = self._cut
            if refused:
                _close(client)
                continue
            try:
                server = socket.create_connection(self.upstream, timeout=5)
                server.settimeout(None)
            except OSError:
                _close(client)
                continue
            with self._lock:
                self._sockets.update((client, server))
            for source, target in ((client, server), (server, client)):
                threading.Thread(target=_pump, args=(source, target), daemon=True).start()


def _pump(source: socket.socket, target: socket.socket) -> None:
    try:
        while chunk := source.recv(65536):
            target.sendall(chunk)
    except OSError:
        pass
    finally:
        _close(source)
        _close(target)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


def main(argv: list[str] | None = None) -> None:
    """Proxy until SIGTERM or SIGINT; SIGUSR1 cuts, SIGUSR2 restores (``ecomms-tcpproxy``)."""
    parser = argparse.ArgumentParser(description="A TCP proxy on 127.0.0.1 that can be cut.")
    parser.add_argument("--port", type=int, default=0, help="Where to listen (0: any free port).")
    parser.add_argument("--upstream", required=True, help="HOST:PORT to forward to.")
    options = parser.parse_args(argv)
    host, _, upstream_port = options.upstream.rpartition(":")
    if not host or not upstream_port.isdigit():
        parser.error("--upstream: expected HOST:PORT")
    with TcpProxy(host, int(upstream_port), port=options.port) as proxy:
        signal.signal(signal.SIGUSR1, lambda *_: proxy.cut())
        signal.signal(signal.SIGUSR2, lambda *_: proxy.restore())
        serve_until_stopped(f"TCP proxy on 127.0.0.1:{proxy.port} to {options.upstream}")
