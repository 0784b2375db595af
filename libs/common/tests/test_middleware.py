"""The slash redirect of ecomms_common.middleware.CommonMiddleware keeps the method and body."""

import pytest

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("debug", [False, True])
def test_a_path_missing_its_slash_is_a_308_to_the_path_with_it(client, settings, method, debug):
    settings.DEBUG = debug
    response = client.generic(
        method, "/echo", data=b'{"name": "ok", "quantity": 2}', content_type="application/json"
    )
    assert response.status_code == 308
    assert response["Location"] == "/echo/"


def test_the_redirect_keeps_the_query_string(client):
    response = client.post("/echo?dry_run=1&tag=a%20b", data=b"{}", content_type="application/json")
    assert response.status_code == 308
    assert response["Location"] == "/echo/?dry_run=1&tag=a%20b"


def test_a_path_with_its_slash_is_answered_as_before(client):
    response = client.post(
        "/echo/", data=b'{"name": "ok", "quantity": 2}', content_type="application/json"
    )
    assert response.status_code == 201


def test_a_path_that_is_no_route_with_or_without_slash_is_still_a_404(client):
    response = client.post("/nowhere", data=b"{}", content_type="application/json")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
