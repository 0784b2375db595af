"""The envelope every integration event travels in (payloads belong to the producing service)."""

import json
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from ecomms_common.correlation import current_request_id

ENVELOPE_FIELDS = (
    "event_id",
    "event_type",
    "event_version",
    "occurred_at",
    "producer",
    "correlation_id",
    "data",
)


class MalformedEvent(ValueError):
    """A message body that is not a valid event envelope."""


@dataclass(frozen=True)
class Envelope:
    event_type: str
    event_version: int
    producer: str
    data: dict[str, Any]
    event_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    occurred_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    correlation_id: str = field(default_factory=lambda: current_request_id() or str(uuid.uuid4()))

    @property
    def routing_key(self) -> str:
        """Return ``<event_type>.v<version>``, e.g. ``order.placed.v1``."""
        return f"{self.event_type}.v{self.event_version}"

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, body: bytes) -> "Envelope":
        """Parse a message body; raise ``MalformedEvent`` naming what is wrong."""
        try:
            raw = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise MalformedEvent(f"not JSON: {exc}") from exc
        if not isinstance(raw, dict):
            raise MalformedEvent("the envelope must be a JSON object")
        missing = [name for name in ENVELOPE_FIELDS if name not in raw]
        if missing:
            raise MalformedEvent(f"missing fields: {', '.join(missing)}")
        if not isinstance(raw["event_version"], int) or isinstance(raw["event_version"], bool):
            raise MalformedEvent("event_version must be an integer")
        if not isinstance(raw["data"], dict):
            raise MalformedEvent("data must be an object")
        return cls(**{name: raw[name] for name in ENVELOPE_FIELDS})
