"""Forwarded headers are believed from TRUSTED_PROXY_NETWORKS only (ecomms_common.forwarding)."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from ecomms_common.forwarding import address_in, parse_networks

FORWARDING = {
    "HTTP_X_FORWARDED_HOST": "shop.example.com",
    "HTTP_X_FORWARDED_PROTO": "https",
    "HTTP_X_FORWARDED_FOR": "203.0.113.7",
    "HTTP_X_FORWARDED_PORT": "443",
    "HTTP_FORWARDED": "for=203.0.113.7;host=shop.example.com;proto=https",
}


@pytest.fixture(autouse=True)
def _public_host_allowed(settings):
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "shop.example.com"]


def test_a_trusted_proxy_s_headers_make_urls_on_the_public_origin(client):
    response = client.get("/origin/?page=2", REMOTE_ADDR="127.0.0.1", **FORWARDING)
    assert response.json()["url"] == "https://shop.example.com/origin/?page=2"
    assert response.json()["forwarded"] == FORWARDING


def test_an_untrusted_peer_s_headers_are_removed(client):
    response = client.get("/origin/?page=2", REMOTE_ADDR="198.51.100.9", **FORWARDING)
    assert response.json()["url"] == "http://testserver/origin/?page=2"
    assert response.json()["forwarded"] == {}


def test_a_forged_host_from_an_untrusted_peer_is_not_checked_against_allowed_hosts(client):
    # Removed before Django reads it: the request is judged by its own Host, which is allowed.
    response = client.get(
        "/origin/", REMOTE_ADDR="198.51.100.9", HTTP_X_FORWARDED_HOST="evil.example"
    )
    assert response.status_code == 200
    assert response.json()["url"] == "http://testserver/origin/"


def test_a_trusted_proxy_s_host_must_still_be_allowed(client):
    response = client.get("/origin/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_HOST="evil.example")
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("peer", "networks", "trusted"),
    [
        ("::1", ["127.0.0.1/32", "::1/128"], True),
        ("2001:db8::5", ["2001:db8::/64"], True),
        ("2001:db8:1::5", ["2001:db8::/64"], False),
        ("::ffff:10.1.2.3", ["10.0.0.0/8"], True),  # IPv4 peer on a dual-stack socket
        ("[::1]", ["::1/128"], True),
        ("10.1.2.3", ["10.0.0.0/8"], True),
        ("11.1.2.3", ["10.0.0.0/8"], False),
        ("127.0.0.1", [], False),
    ],
)
def test_peers_are_matched_against_the_networks(client, settings, peer, networks, trusted):
    settings.TRUSTED_PROXY_NETWORKS = networks
    response = client.get("/origin/", REMOTE_ADDR=peer, **FORWARDING)
    assert (response.json()["forwarded"] == FORWARDING) is trusted


@pytest.mark.parametrize(
    "peer", ["", "not-an-address", "127.0.0.1:8080", "999.1.1.1", "::1::2", "\x00"]
)
def test_a_peer_that_is_no_address_is_not_trusted(client, peer):
    response = client.get("/origin/", REMOTE_ADDR=peer, **FORWARDING)
    assert response.status_code == 200
    assert response.json()["forwarded"] == {}


def test_a_request_without_forwarding_is_untouched(client):
    response = client.get("/origin/", REMOTE_ADDR="198.51.100.9")
    assert response.json() == {"url": "http://testserver/origin/", "forwarded": {}}


def test_the_middleware_runs_before_any_other(settings):
    assert settings.MIDDLEWARE[0] == "ecomms_common.forwarding.ForwardedHeadersMiddleware"


def test_a_bad_network_stops_the_process_with_what_is_wrong():
    with pytest.raises(ImproperlyConfigured, match=r"10\.0\.0\.0/33"):
        parse_networks(("10.0.0.0/8", "10.0.0.0/33"))


def test_blank_entries_of_a_network_list_are_ignored():
    assert not address_in("10.0.0.1", [""])
    assert address_in("10.0.0.1", ["", "10.0.0.0/8"])
