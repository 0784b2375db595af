"""Behaviour every service's operational endpoints must show; each service runs it on itself.

    class TestOpsEndpoints(OpsEndpointsContract):
        pass
"""

import uuid

import pytest
from rest_framework.test import APIClient

CLOSED_PORT_AMQP_URL = "amqp://guest:guest@127.0.0.1:1/"


@pytest.mark.django_db
class OpsEndpointsContract:
    def test_healthz_answers_ok(self, api_client: APIClient) -> None:
        response = api_client.get("/healthz")
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}

    def test_readyz_reports_every_configured_dependency_ok(self, api_client, settings) -> None:
        response = api_client.get("/readyz")
        assert response.status_code == 200, response.content
        assert response.json()["checks"] == {name: "ok" for name in settings.READINESS_CHECKS}

    def test_readyz_names_an_unreachable_broker(self, api_client, settings) -> None:
        if "broker" not in settings.READINESS_CHECKS:
            pytest.skip("this service has no broker")
        settings.AMQP_URL = CLOSED_PORT_AMQP_URL
        response = api_client.get("/readyz")
        assert response.status_code == 503
        error = response.json()["error"]
        assert error["code"] == "not_ready"
        assert "broker" in error["message"]
        assert error["details"]["checks"]["database"] == "ok"
        assert error["details"]["checks"]["broker"] != "ok"

    def test_metrics_are_prometheus_text(self, api_client) -> None:
        api_client.get("/healthz")
        response = api_client.get("/metrics")
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/plain")
        assert b"django_http_requests_total_by_method_total" in response.content

    def test_openapi_schema_and_docs_are_served(self, api_client) -> None:
        schema = api_client.get("/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
        assert schema.status_code == 200
        assert schema.json()["openapi"].startswith("3.")
        assert "/healthz" in schema.json()["paths"]
        docs = api_client.get("/docs/")
        assert docs.status_code == 200
        assert b"swagger-ui" in docs.content

    def test_unknown_path_is_a_json_404(self, api_client) -> None:
        response = api_client.get("/no/such/path/")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"

    def test_request_id_is_echoed_or_generated(self, api_client) -> None:
        given = str(uuid.uuid4())
        assert api_client.get("/healthz", HTTP_X_REQUEST_ID=given)["X-Request-ID"] == given
        generated = api_client.get("/healthz")["X-Request-ID"]
        assert uuid.UUID(generated)
