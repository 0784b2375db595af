"""One OpenAPI document for the whole public API: the gateway's own paths plus each service's.

``/schema/`` fetches every upstream's ``/schema/`` (bounded by the upstream timeouts) and merges
their paths and components into the gateway's; ``/docs/`` renders it. A service that cannot be
reached is named in the description instead of failing the page.
"""

import functools
import http.cookiejar
import logging
from typing import Any

import requests
from django.conf import settings
from drf_spectacular.views import SpectacularAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from ecomms_common.openapi import ERROR_COMPONENT, ERROR_REF, ERROR_SCHEMA
from gateway.edge.routes import CATALOG, ORDERS, Upstream

logger = logging.getLogger(__name__)

# Every service serves these itself; through the gateway they are the gateway's own.
OPS_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/schema/", "/docs/"})
UPSTREAMS = (CATALOG, ORDERS)


@functools.cache
def upstream_session() -> requests.Session:
    """Return this process's session for fetching the services' schemas."""
    session = requests.Session()
    session.trust_env = False  # upstreams are ours: no proxy from the environment
    session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    return session


def upstream_schema_fetch(upstream: Upstream) -> dict[str, Any]:
    """Return the upstream's OpenAPI document; raise ``requests.RequestException`` if it fails."""
    answer = upstream_session().get(
        f"{upstream.base_url}/schema/",
        headers={"Accept": "application/vnd.oai.openapi+json"},
        timeout=(settings.UPSTREAM_CONNECT_TIMEOUT_SECONDS, settings.UPSTREAM_READ_TIMEOUT_SECONDS),
    )
    answer.raise_for_status()
    return answer.json()


# What the gateway itself may answer on any proxied operation (gateway.edge), beside the service.
GATEWAY_ERRORS = {
    "413": "The body is larger than PROXY_BODY_MAX_BYTES.",
    "429": "Over a rate limit; `Retry-After` says when to call again.",
    "502": "The service gave an invalid answer.",
    "503": "The service is unavailable.",
    "504": "The service did not answer in time.",
}
_HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def _with_gateway_errors(operations: dict[str, Any]) -> dict[str, Any]:
    """Return the path's operations with the gateway's own error answers documented."""
    documented = {}
    for method, operation in operations.items():
        if method in _HTTP_METHODS and isinstance(operation, dict):
            responses = dict(operation.get("responses", {}))
            for status, description in GATEWAY_ERRORS.items():
                responses.setdefault(
                    status,
                    {
                        "description": description,
                        "content": {"application/json": {"schema": ERROR_REF}},
                    },
                )
            operation = {**operation, "responses": responses}
        documented[method] = operation
    return documented


def schema_merge(gateway: dict[str, Any], upstream: dict[str, Any]) -> None:
    """Add the upstream's paths and components to the gateway's document (the gateway's win).

    Each proxied operation also documents what the gateway answers in the service's stead.
    """
    paths = gateway.setdefault("paths", {})
    for path, operations in upstream.get("paths", {}).items():
        if path not in OPS_PATHS:
            paths.setdefault(path, _with_gateway_errors(operations))
    components = gateway.setdefault("components", {})
    components.setdefault("schemas", {}).setdefault(ERROR_COMPONENT, ERROR_SCHEMA)
    for kind, named in upstream.get("components", {}).items():
        known = components.setdefault(kind, {})
        for name, definition in named.items():
            if known.setdefault(name, definition) != definition:
                logger.warning("schema component %s/%s differs between services", kind, name)


class AllServicesSchemaView(SpectacularAPIView):
    def _get_schema_response(self, request: Request) -> Response:
        response = super()._get_schema_response(request)
        document = response.data
        missing = []
        for upstream in UPSTREAMS:
            try:
                schema_merge(document, upstream_schema_fetch(upstream))
            except (requests.RequestException, ValueError) as exc:
                logger.warning("cannot fetch the %s schema: %r", upstream.name, exc)
                missing.append(upstream.name)
        if missing:
            info = document.setdefault("info", {})
            note = f"Unavailable right now, so not shown: {', '.join(missing)}."
            info["description"] = f"{info.get('description', '')}\n\n{note}".strip()
        return response
