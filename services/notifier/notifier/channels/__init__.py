"""The providers a delivery goes out through.

Each send returns the provider's message id, or raises :class:`TransientDeliveryError` (retry
later) or :class:`PermanentDeliveryError` (give up). Each channel keeps one connection to its
provider open per delivery thread, in a ``threading.local`` of its own.
"""

import contextlib
import threading


class DeliveryError(Exception):
    """A provider did not accept a message."""


class TransientDeliveryError(DeliveryError):
    """Worth trying again later: timeouts, refused connections, 4xx SMTP, provider 5xx."""


class PermanentDeliveryError(DeliveryError):
    """Trying again cannot help: 5xx SMTP, an invalid number, no credit."""


def thread_connection_close(local: threading.local) -> None:
    """Close the connection ``local`` keeps for this thread, if one is open; forget it."""
    connection = getattr(local, "connection", None)
    local.connection = None
    if connection is not None:
        with contextlib.suppress(Exception):
            connection.close()
