"""Routes every service serves: probes, metrics, the OpenAPI schema and its docs page.

A service's ``config/urls.py`` includes these and sets the JSON error handlers::

    from ecomms_common.urls import handler400, handler403, handler404, handler500, ops_urlpatterns
"""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from ecomms_common.health import LivenessView, ReadinessView, metrics

ops_urlpatterns = [
    path("healthz", LivenessView.as_view(), name="healthz"),
    path("readyz", ReadinessView.as_view(), name="readyz"),
    path("metrics", metrics, name="metrics"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
]

handler400 = "ecomms_common.errors.bad_request"
handler403 = "ecomms_common.errors.permission_denied"
handler404 = "ecomms_common.errors.page_not_found"
handler500 = "ecomms_common.errors.server_error"
