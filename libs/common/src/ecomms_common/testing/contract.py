"""Behaviour every service's operational endpoints must show; each service runs it on itself::

class TestOpsEndpoints(OpsEndpointsContract):
    pass

class TestBrokerReadiness(BrokerReadinessContract):  # services that use RabbitMQ
    pass
"""

import importlib
import re
import uuid
from wsgiref.util import setup_testing_defaults

import pytest
from rest_framework.test import APIClient

CLOSED_PORT_AMQP_URL = "amqp://guest:guest@127.0.0.1:1/"


def readiness_metric(api_client: APIClient) -> dict[str, float]:
    """Return the ``ecomms_ready`` samples of /metrics, by check."""
    from prometheus_client.parser import text_string_to_metric_families

    response = api_client.get("/metrics")
    assert response.status_code == 200
    return {
        sample.labels["check"]: sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
        if sample.name == "ecomms_ready"
    }


@pytest.mark.django_db
class OpsEndpointsContract:
    wsgi_module = "config.wsgi"

    def test_healthz_answers_ok(self, api_client: APIClient) -> None:
        response = api_client.get("/healthz")
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}

    def test_readyz_reports_every_configured_dependency_ok(self, api_client, settings) -> None:
        response = api_client.get("/readyz")
        assert response.status_code == 200, response.content
        assert response.json()["checks"] == {name: "ok" for name in settings.READINESS_CHECKS}

    def test_wsgi_entry_point_serves_the_probes(self) -> None:
        application = importlib.import_module(self.wsgi_module).application
        environ = {"PATH_INFO": "/healthz", "HTTP_HOST": "127.0.0.1"}
        setup_testing_defaults(environ)
        started = []
        body = b"".join(application(environ, lambda status, headers: started.append(status)))
        assert started == ["200 OK"]
        assert body == b'{"status":"ok"}'

    def test_metrics_are_prometheus_text(self, api_client) -> None:
        api_client.get("/healthz")
        response = api_client.get("/metrics")
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/plain")
        assert b"django_http_requests_total_by_method_total" in response.content

    def test_metrics_report_each_readiness_check(self, api_client, settings) -> None:
        assert readiness_metric(api_client) == dict.fromkeys(settings.READINESS_CHECKS, 1.0)

    def test_openapi_schema_and_docs_are_served(self, api_client) -> None:
        schema = api_client.get("/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
        assert schema.status_code == 200
        assert schema.json()["openapi"].startswith("3.")
        assert "/healthz" in schema.json()["paths"]
        docs = api_client.get("/docs/")
        assert docs.status_code == 200
        bundle = re.search(rb'src="([^"]+swagger-ui-bundle\.js)"', docs.content)
        assert bundle, "the docs page loads Swagger UI from this service"
        assert api_client.get(bundle.group(1).decode()).status_code == 200

    def test_unknown_path_is_a_json_404(self, api_client) -> None:
        response = api_client.get("/no/such/path/")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"

    def test_request_id_is_echoed_or_generated(self, api_client) -> None:
        given = str(uuid.uuid4())
        assert api_client.get("/healthz", HTTP_X_REQUEST_ID=given)["X-Request-ID"] == given
        generated = api_client.get("/healthz")["X-Request-ID"]
        assert uuid.UUID(generated)


@pytest.mark.django_db
class BrokerReadinessContract:
    def test_readyz_checks_the_broker(self, settings) -> None:
        assert "broker" in settings.READINESS_CHECKS

    def test_readyz_names_an_unreachable_broker(self, api_client, settings) -> None:
        settings.AMQP_URL = CLOSED_PORT_AMQP_URL
        response = api_client.get("/readyz")
        assert response.status_code == 503
        error = response.json()["error"]
        assert error["code"] == "not_ready"
        assert "broker" in error["message"]
        assert error["details"]["checks"]["database"] == "ok"
        assert error["details"]["checks"]["broker"] != "ok"

    def test_metrics_report_an_unreachable_broker_as_not_ready(self, api_client, settings) -> None:
        settings.AMQP_URL = CLOSED_PORT_AMQP_URL
        assert readiness_metric(api_client) == {"database": 1.0, "broker": 0.0}
