"""What every stand-in's console script shares: logging to stderr, and running until a signal."""

import logging
import os
import signal
import threading


def serve_until_stopped(announcement: str) -> None:
    """Log to stderr at ``LOG_LEVEL`` (INFO), print ``announcement``, block until SIGTERM/SIGINT."""
    level = os.environ.get("LOG_LEVEL", "INFO").upper()
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    print(announcement, flush=True)
    stop.wait()
