"""Liveness and readiness probes, and who may read the operational endpoints.

``/healthz`` says the process answers. ``/readyz`` runs the checks named in ``READINESS_CHECKS``
(each bounded by ``READINESS_TIMEOUT_SECONDS``) and answers 503 naming every failing dependency.

``/metrics`` also carries ``ecomms_ready{check=...}``: 1 for each of those checks that passes, 0 for
one that fails, run at every scrape (so Prometheus sees readiness without a probe of its own).

Those names, and ``/metrics``, describe the inside of the system, so only an operations caller
sees them: a peer in ``OPS_ALLOWED_NETWORKS`` (Prometheus, the kubelet) whose request did not
come through a proxy. A request a trusted proxy forwarded is an outside client's, wherever the
proxy stands: it gets ``/readyz`` as a bare status and a 404 for ``/metrics``.
"""

import logging
from collections.abc import Callable, Iterator

from django.conf import settings
from django.db import connections
from django.http import HttpRequest, HttpResponse
from django_prometheus.exports import ExportToDjangoView
from drf_spectacular.utils import extend_schema, inline_serializer
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ecomms_common.errors import error_body, page_not_found
from ecomms_common.forwarding import address_in, came_through_proxy

logger = logging.getLogger(__name__)


def check_database() -> None:
    """Raise unless the default database answers a query."""
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT 1")


def check_broker() -> None:
    """Raise unless RabbitMQ at ``AMQP_URL`` accepts a connection."""
    import pika  # only services with a broker install it

    from ecomms_common.amqp import connection_parameters

    # The connection every broker user makes, with the probe's shorter bounds.
    timeout = settings.READINESS_TIMEOUT_SECONDS
    parameters = connection_parameters()
    parameters.socket_timeout = timeout
    parameters.stack_timeout = timeout
    parameters.blocked_connection_timeout = timeout
    pika.BlockingConnection(parameters).close()


CHECKS: dict[str, Callable[[], None]] = {"database": check_database, "broker": check_broker}


def run_checks(names: list[str]) -> dict[str, str]:
    """Run the named checks; return ``{name: "ok" | "<error class>: <message>"}``."""
    results = {}
    for name in names:
        try:
            CHECKS[name]()
        except Exception as exc:  # a probe reports every failure, whatever raised it
            logger.warning("readiness check %s failed: %r", name, exc)
            results[name] = f"{type(exc).__name__}: {str(exc).strip() or repr(exc)}"
        else:
            results[name] = "ok"
    return results


def is_ops_caller(request: HttpRequest) -> bool:
    """Return whether the caller may see metrics and dependency names (see the module doc)."""
    return not came_through_proxy(request) and address_in(
        request.META.get("REMOTE_ADDR"), settings.OPS_ALLOWED_NETWORKS
    )


class ReadinessGauge:
    """Collect ``ecomms_ready``: the readiness checks' results, run when collected."""

    def describe(self) -> list[GaugeMetricFamily]:
        return [self.family()]

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = self.family()
        for name, result in run_checks(settings.READINESS_CHECKS).items():
            family.add_metric([name], 1.0 if result == "ok" else 0.0)
        yield family

    @staticmethod
    def family() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "ecomms_ready",
            "1 while the dependency a readiness check names is reachable, 0 while it is not.",
            labels=["check"],
        )


_readiness = CollectorRegistry()
_readiness.register(ReadinessGauge())


def metrics(request: HttpRequest) -> HttpResponse:
    """Serve the Prometheus metrics to an operations caller; to anyone else, no such path."""
    if not is_ops_caller(request):
        return page_not_found(request, None)
    response = ExportToDjangoView(request)
    # Checked by the process that answers, not added up over gunicorn's workers.
    response.content += generate_latest(_readiness)
    return response


_status = inline_serializer("ProbeStatus", {"status": serializers.CharField()})


class LivenessView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(summary="The process is alive", responses={200: _status}, tags=["ops"])
    def get(self, request: Request) -> Response:
        return Response({"status": "ok"})


class ReadinessView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        summary="Every dependency this service needs is reachable",
        responses={200: _status, 503: None},
        tags=["ops"],
    )
    def get(self, request: Request) -> Response:
        checks = run_checks(settings.READINESS_CHECKS)
        failing = sorted(name for name, result in checks.items() if result != "ok")
        if not is_ops_caller(request):
            if failing:
                return Response({"status": "unavailable"}, status=503)
            return Response({"status": "ok"})
        if failing:
            body = error_body(
                "not_ready", f"Unreachable: {', '.join(failing)}.", {"checks": checks}
            )
            return Response(body, status=503)
        return Response({"status": "ok", "checks": checks})
