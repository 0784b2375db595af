from django.urls import include, path

from ecomms_common.urls import (  # noqa: F401 - Django looks the handlers up here
    handler400,
    handler403,
    handler404,
    handler500,
    ops_urlpatterns,
)

urlpatterns = [*ops_urlpatterns, path("", include("orders.api.urls"))]
