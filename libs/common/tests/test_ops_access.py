"""/metrics and /readyz's details are for operations callers only (ecomms_common.health)."""

import pytest

BEHIND_PROXY = {"HTTP_X_FORWARDED_FOR": "203.0.113.7", "HTTP_X_FORWARDED_PROTO": "https"}


@pytest.mark.django_db
@pytest.mark.parametrize("peer", ["127.0.0.1", "::1", "10.244.1.17", "172.18.0.5", "192.168.1.4"])
def test_an_inside_peer_gets_metrics_and_named_checks(client, peer):
    metrics = client.get("/metrics", REMOTE_ADDR=peer)
    assert metrics.status_code == 200
    assert b"django_http_requests_total_by_method_total" in metrics.content
    ready = client.get("/readyz", REMOTE_ADDR=peer)
    assert ready.json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("peer", "forwarding"),
    [
        ("203.0.113.7", {}),  # straight from the internet
        ("2001:db8::7", {}),
        ("not-an-address", {}),
        ("127.0.0.1", BEHIND_PROXY),  # a client's request forwarded by a trusted proxy
    ],
)
def test_an_outside_client_gets_no_metrics_and_a_bare_readiness(client, peer, forwarding):
    metrics = client.get("/metrics", REMOTE_ADDR=peer, **forwarding)
    assert metrics.status_code == 404
    assert metrics.json()["error"]["code"] == "not_found"
    assert b"django_http" not in metrics.content
    ready = client.get("/readyz", REMOTE_ADDR=peer, **forwarding)
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok"}


@pytest.mark.django_db
def test_an_outside_client_is_told_unavailable_without_naming_the_dependency(client, settings):
    settings.AMQP_URL = "amqp://guest:guest@127.0.0.1:1/"
    ready = client.get("/readyz", REMOTE_ADDR="203.0.113.7")
    assert ready.status_code == 503
    assert ready.json() == {"status": "unavailable"}
    inside = client.get("/readyz", REMOTE_ADDR="10.0.0.2")
    assert inside.status_code == 503
    assert inside.json()["error"]["details"]["checks"]["broker"] != "ok"


@pytest.mark.django_db
def test_forwarding_from_an_untrusted_peer_does_not_hide_an_inside_caller(client):
    # An inside peer that is no proxy of ours: its forwarding headers are dropped, it is itself.
    response = client.get("/metrics", REMOTE_ADDR="10.0.0.2", **BEHIND_PROXY)
    assert response.status_code == 200


def test_healthz_is_public(client):
    response = client.get("/healthz", REMOTE_ADDR="203.0.113.7", **BEHIND_PROXY)
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_the_networks_are_a_setting(client, settings):
    settings.OPS_ALLOWED_NETWORKS = ["198.51.100.0/24"]
    assert client.get("/metrics", REMOTE_ADDR="198.51.100.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 404
