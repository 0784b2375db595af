import json

import pytest
from django.test import Client

from tests.views import FAILING_QUERIES


@pytest.fixture
def raising_client():
    # Django's test client re-raises view exceptions by default; a real client sees handler500.
    return Client(raise_request_exception=False)


def test_validation_errors_name_each_field(api_client):
    response = api_client.post(
        "/echo/", {"name": "far too long a name", "quantity": 0}, format="json"
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert set(error["details"]) == {"name", "quantity"}


def test_valid_input_passes_through(api_client):
    response = api_client.post("/echo/", {"name": "ok", "quantity": 2}, format="json")
    assert response.status_code == 201
    assert response.json() == {"name": "ok", "quantity": 2}


def test_malformed_json_is_a_400(api_client):
    response = api_client.post("/echo/", data=b'{"name": ', content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


def test_non_json_body_is_a_415(api_client):
    response = api_client.post("/echo/", data=b"name=x", content_type="text/plain")
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


def test_oversized_body_is_a_413_before_it_is_read(api_client, settings):
    body = b'{"name": "' + b"x" * (settings.REQUEST_BODY_MAX_BYTES + 1) + b'"}'
    response = api_client.post("/echo/", data=body, content_type="application/json")
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "payload_too_large"
    assert error["details"]["max_bytes"] == settings.REQUEST_BODY_MAX_BYTES


@pytest.mark.parametrize("length", ["lots", "-1", "1e3", "+2", " 2", "²"])
def test_garbage_content_length_is_a_400(api_client, length):
    response = api_client.generic("POST", "/echo/", data=b"{}", CONTENT_LENGTH=length)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"


def test_unhandled_exception_is_a_json_500_with_the_request_id_and_no_trace(raising_client):
    response = raising_client.get("/broken/")
    assert response.status_code == 500
    assert response.json() == {
        "error": {
            "code": "internal_error",
            "message": (
                "The service failed to handle the request; quote the request id when reporting it."
            ),
            "details": {"request_id": response["X-Request-ID"]},
        }
    }
    assert b"boom" not in response.content


def test_service_errors_keep_their_status_code_and_details(api_client):
    response = api_client.get("/upstream-down/")
    assert response.status_code == 503
    assert response.json()["error"] == {
        "code": "service_unavailable",
        "message": "Upstream is down.",
        "details": {"dependency": "upstream"},
    }


def test_method_not_allowed_is_json(api_client):
    response = api_client.delete("/healthz")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_disallowed_host_is_a_json_400(raising_client):
    response = raising_client.get("/healthz", HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"


def test_csrf_failure_is_json():
    from ecomms_common.errors import csrf_failure

    response = csrf_failure(None, reason="CSRF cookie not set.")
    assert response.status_code == 403
    assert json.loads(response.content)["error"]["details"] == {"reason": "CSRF cookie not set."}


def test_permission_denied_page_is_json():
    from ecomms_common.errors import permission_denied

    response = permission_denied(None, PermissionError())
    assert response.status_code == 403
    assert json.loads(response.content)["error"]["code"] == "permission_denied"


@pytest.mark.parametrize(
    ("kind", "status", "code", "details"),
    [
        ("http404", 404, "not_found", {}),
        ("django_permission_denied", 403, "permission_denied", {}),
        (
            "structured_permission_denied",
            403,
            "permission_denied",
            {"order": "belongs to another customer"},
        ),
        ("listed_permission_denied", 403, "permission_denied", {"errors": ["one", "two"]}),
        ("unattributed_validation_error", 400, "invalid", {"non_field_errors": ["Pick a or b."]}),
    ],
)
def test_exceptions_raised_in_views_keep_the_error_shape(api_client, kind, status, code, details):
    response = api_client.get("/raise/", {"kind": kind})
    assert response.status_code == status
    error = response.json()["error"]
    assert (error["code"], error["details"]) == (code, details)
    assert error["message"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", ["/outbox-count/", "/plain/outbox-count/"], ids=["drf", "django"])
@pytest.mark.parametrize("how", ["refused", "dropped"])
def test_an_unreachable_database_is_a_json_503(raising_client, database_proxy, path, how):
    from django.db import close_old_connections

    if how == "dropped":  # a connection that worked, then the server went away under it
        assert raising_client.get(path).json() == {"outbox": 0}
    database_proxy.cut()

    response = raising_client.get(path)

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "database_unavailable"
    database_proxy.restore()
    close_old_connections()  # what Django does between two requests: drop the broken one
    assert raising_client.get(path).json() == {"outbox": 0}


@pytest.mark.django_db
@pytest.mark.parametrize("kind", sorted(FAILING_QUERIES))
def test_a_query_the_database_refuses_is_a_500_not_an_outage(raising_client, caplog, kind):
    # a retry would meet the same refusal: not 503 database_unavailable, which invites one
    response = raising_client.get("/failing-query/", {"kind": kind})

    assert response.status_code == 500
    error = response.json()["error"]
    assert error["code"] == "internal_error"
    assert error["details"] == {"request_id": response["X-Request-ID"]}
    logged = [record for record in caplog.records if record.name == "django.request"]
    assert [record.status_code for record in logged] == [500]
    assert logged[0].exc_info is not None  # the traceback is in the log, not in the answer
    assert b"Traceback" not in response.content
