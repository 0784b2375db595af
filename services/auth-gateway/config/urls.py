"""Every path the gateway answers, and who answers it.

The edge (``config.asgi``, :mod:`gateway.edge`) takes the API calls before Django sees them: the
first path segment names the service (:data:`gateway.edge.routes.ROUTES`)::

    /products/...    /categories/...    -> catalog (reads are public)
    /orders/...      /customers/...     -> orders

Django answers the rest, below: the whole API's schema and docs, the probes and metrics, and the
identity paths (:mod:`gateway.api.urls`).
"""

from django.urls import include, path
from gateway import docs

from ecomms_common.urls import (  # noqa: F401 - Django looks the handlers up here
    handler400,
    handler403,
    handler404,
    handler500,
    ops_urlpatterns,
)

urlpatterns = [
    # The gateway's /schema/ is the whole public API (its own paths and every service's).
    path("schema/", docs.AllServicesSchemaView.as_view(), name="schema"),
    *[pattern for pattern in ops_urlpatterns if pattern.name != "schema"],
    path("", include("gateway.api.urls")),
]
