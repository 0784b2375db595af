"""The ``Idempotency-Key`` guard: a write sent twice under one key is done once, answered twice.

The guard wraps a view's write and its rendering (the view renders, the service writes):

1. A key with a stored answer replays it (``Idempotent-Replayed: true``); the same key with
   another body is a 422 ``idempotency_key_reused``.
2. Otherwise the write runs, its result is rendered, and the answer is stored under the key,
   all in one transaction. The key is claimed by that insert, never before: there is no
   "running" claim to release, so a request that fails before its commit (a catalog error, a
   database connection that drops, a killed process) leaves nothing behind, and the same
   request may be sent again at once.
3. Two requests racing with one key both do the work; the unique constraint on (customer, key)
   lets exactly one commit, and the other, waiting on that insert, rolls its write back and
   replays what the first stored.

The write's first statement opens the transaction on the server: a write that calls another
service before it (the catalog's prices) holds no transaction while it waits.
"""

import hashlib
import json
import logging
import re
from collections.abc import Callable
from typing import Any

from django.db import transaction
from drf_spectacular.utils import OpenApiParameter
from rest_framework import exceptions, status
from rest_framework.request import Request
from rest_framework.response import Response

from orders import selectors, services
from orders.models import Customer, IdempotencyKey

logger = logging.getLogger(__name__)

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
IDEMPOTENCY_KEY_RE = re.compile(r"^[\x21-\x7e]{1,255}$")

idempotency_parameter = OpenApiParameter(
    IDEMPOTENCY_HEADER,
    str,
    OpenApiParameter.HEADER,
    required=False,
    description="Any 1-255 visible ASCII characters; the same key and body place one order.",
)


def request_hash(body: Any) -> str:
    """Return the SHA-256 of a parsed JSON body in canonical form (key order does not matter)."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def idempotency_key(request: Request) -> str | None:
    """Return the request's ``Idempotency-Key``, ``None`` without one; 400 when malformed."""
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is not None and not IDEMPOTENCY_KEY_RE.match(key):
        raise exceptions.ValidationError(
            {IDEMPOTENCY_HEADER: ["Use 1 to 255 visible ASCII characters (no spaces)."]}
        )
    return key


def _replay(record: IdempotencyKey) -> Response:
    return Response(
        record.response_body, status=record.response_status, headers={REPLAYED_HEADER: "true"}
    )


def idempotent_create[Written](
    request: Request,
    *,
    customer: Customer,
    write: Callable[[], Written],
    render: Callable[[Written], Any],
) -> Response:
    """Answer a creating request (201 with ``render(write())``) at most once per key and body.

    Without an ``Idempotency-Key`` header the write simply runs.
    """
    key = idempotency_key(request)
    if key is None:
        return Response(render(write()), status=status.HTTP_201_CREATED)
    body_hash = request_hash(request.data)
    stored = selectors.idempotency_key_get(customer=customer, key=key, request_hash=body_hash)
    if stored is not None:
        return _replay(stored)
    try:
        with transaction.atomic():
            body = render(write())
            services.idempotency_record(
                customer=customer,
                key=key,
                request_hash=body_hash,
                status=status.HTTP_201_CREATED,
                body=body,
            )
    except services.IdempotencyKeyTaken:
        logger.info("idempotency key %s was used by a concurrent request; replaying it", key)
        stored = selectors.idempotency_key_get(customer=customer, key=key, request_hash=body_hash)
        if stored is None:  # pragma: no cover - purged in the instant since: a bug's 500
            raise
        return _replay(stored)
    return Response(body, status=status.HTTP_201_CREATED)
