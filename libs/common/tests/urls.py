from django.urls import path

from ecomms_common.urls import (  # noqa: F401
    handler400,
    handler403,
    handler404,
    handler500,
    ops_urlpatterns,
)
from tests import views

urlpatterns = [
    *ops_urlpatterns,
    path("whoami/", views.WhoAmIView.as_view()),
    path("admin-only/", views.AdminOnlyView.as_view()),
    path("customer-only/", views.CustomerOnlyView.as_view()),
    path("echo/", views.EchoView.as_view()),
    path("broken/", views.BrokenView.as_view()),
    path("upstream-down/", views.UpstreamDownView.as_view()),
    path("relay/", views.RelayView.as_view()),
    path("raise/", views.RaisingView.as_view()),
    path("outbox-count/", views.OutboxCountView.as_view()),
    path("plain/outbox-count/", views.outbox_count),
    path("failing-query/", views.FailingQueryView.as_view()),
    path("origin/", views.origin),
]
