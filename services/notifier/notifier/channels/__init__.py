"""The providers a delivery goes out through.

Each send returns the provider's message id, or raises :class:`TransientDeliveryError` (retry
later) or :class:`PermanentDeliveryError` (give up).
"""


class DeliveryError(Exception):
    """A provider did not accept a message."""


class TransientDeliveryError(DeliveryError):
    """Worth trying again later: timeouts, refused connections, 4xx SMTP, provider 5xx."""


class PermanentDeliveryError(DeliveryError):
    """Trying again cannot help: 5xx SMTP, an invalid number, no credit."""
