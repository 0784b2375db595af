"""The current request's correlation id, for outgoing calls and events.

django-guid's middleware sets it per request (from ``X-Request-ID`` or a new UUID); background
processes set it themselves with :func:`bind_request_id` around each unit of work.
"""

import contextlib
import uuid
from collections.abc import Iterator

from django_guid import get_guid, set_guid

HEADER = "X-Request-ID"


def current_request_id() -> str | None:
    """Return the id of the request or unit of work being handled, if any."""
    return get_guid()


@contextlib.contextmanager
def bind_request_id(request_id: str | None = None) -> Iterator[str]:
    """Run a block (a consumed message, a relay batch) under a correlation id."""
    previous = get_guid()
    request_id = request_id or str(uuid.uuid4())
    set_guid(request_id)
    try:
        yield request_id
    finally:
        set_guid(previous)
