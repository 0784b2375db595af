"""What the stand-ins share: serving in a thread beside a test or a script, and a console
script's logging and running until a signal."""

import logging
import os
import signal
import socket
import threading
from socketserver import BaseServer
from typing import Self


class ServerThread:
    """Run ``server.serve_forever`` in a daemon thread; ``close()`` stops it and frees the port.

    A context manager too: ``with ServerThread(server) as serving:`` serves for the block.
    """

    def __init__(self, server: BaseServer, *, poll_interval: float = 0.5) -> None:
        self.server = server
        self._thread = threading.Thread(
            target=server.serve_forever, args=(poll_interval,), daemon=True
        )

    @property
    def url(self) -> str:
        """``http://host:port`` of the listening socket."""
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> Self:
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving and close the listening socket (only the latter if it never started)."""
        # shutdown() waits for serve_forever to end: never started, it would wait for ever.
        if self._thread.ident is not None:
            self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def serve_until_stopped(announcement: str) -> None:
    """Log to stderr at ``LOG_LEVEL`` (INFO), print ``announcement``, block until SIGTERM/SIGINT.

    Meanwhile the main thread runs the Python handlers of every signal (the caller's too, such
    as the TCP proxy's SIGUSR1) as soon as the signal comes. The kernel gives a process's signal
    to any of its threads, and Python runs the handler only in the main thread, once that thread
    runs again: blocked on a lock, it would not for a signal that landed on a serving thread.
    The main thread waits on the signal wakeup fd instead, which every signal writes to,
    whichever thread it landed on.
    """
    level = os.environ.get("LOG_LEVEL", "INFO").upper()
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    woken, waker = socket.socketpair()
    waker.setblocking(False)
    earlier = signal.set_wakeup_fd(waker.fileno(), warn_on_full_buffer=False)
    try:
        print(announcement, flush=True)
        while not stop.is_set():
            woken.recv(64)  # then the main thread runs the handlers of what it read
    finally:
        signal.set_wakeup_fd(earlier)
        woken.close()
        waker.close()
