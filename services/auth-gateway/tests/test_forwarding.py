"""The forwarding headers the gateway writes for the services behind it (gateway.forwarding)."""

import pytest
from gateway.forwarding import forwarded_headers


def test_a_direct_client_is_described_in_every_header():
    assert forwarded_headers(
        client="203.0.113.9", scheme="https", host="shop.example.com", prior_for=None
    ) == {
        "X-Forwarded-For": "203.0.113.9",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "shop.example.com",
        "Forwarded": "for=203.0.113.9;host=shop.example.com;proto=https",
    }


def test_hops_before_a_trusted_ingress_come_first():
    headers = forwarded_headers(
        client="10.244.0.12",
        scheme="https",
        host="shop.example.com",
        prior_for="198.51.100.4, 10.0.0.1",
    )
    assert headers["X-Forwarded-For"] == "198.51.100.4, 10.0.0.1, 10.244.0.12"
    assert headers["Forwarded"] == (
        "for=198.51.100.4, for=10.0.0.1, for=10.244.0.12;host=shop.example.com;proto=https"
    )


@pytest.mark.parametrize(
    ("client", "node"),
    [
        ("::1", '"[::1]"'),
        ("2001:DB8:0:0::7", '"[2001:db8::7]"'),
        ("[2001:db8::7]", '"[2001:db8::7]"'),
        ("192.0.2.1", "192.0.2.1"),
        ("_hidden-proxy", "_hidden-proxy"),
        ("", "unknown"),
        ("not an address", "unknown"),
        ('1.2.3.4"; proto=https', "unknown"),
    ],
)
def test_addresses_are_quoted_as_rfc_7239_says(client, node):
    forwarded = forwarded_headers(client=client, scheme="http", host="h", prior_for=None)
    assert forwarded["Forwarded"] == f"for={node};host=h;proto=http"


@pytest.mark.parametrize(
    ("host", "value"),
    [
        ("127.0.0.1:8000", '"127.0.0.1:8000"'),
        ("[::1]:8000", '"[::1]:8000"'),
        ("shop.example.com", "shop.example.com"),
        ('a"b\\c', '"a\\"b\\\\c"'),
        ("a\r\nX-Evil: 1", '"aX-Evil: 1"'),
    ],
)
def test_a_host_that_is_no_token_is_a_quoted_string(host, value):
    forwarded = forwarded_headers(client="192.0.2.1", scheme="http", host=host, prior_for=None)
    assert forwarded["Forwarded"] == f"for=192.0.2.1;host={value};proto=http"


def test_a_garbage_prior_hop_names_no_one():
    headers = forwarded_headers(
        client="192.0.2.1", scheme="http", host="h", prior_for="evil;proto=https, , 2001:db8::1"
    )
    assert (
        headers["Forwarded"] == 'for=unknown, for="[2001:db8::1]", for=192.0.2.1;host=h;proto=http'
    )
