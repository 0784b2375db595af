"""gateway.clients.client_address: forwarded headers are believed only from trusted proxies."""

import pytest
from gateway.clients import client_address, trusted_networks

PROXIES = trusted_networks(["10.0.0.0/8", "fd00::/8"])

CASES = [
    # (peer, headers, trusted, expected)
    # No trusted proxies: the peer, whatever the headers say.
    ("198.51.100.7", {}, (), "198.51.100.7"),
    ("198.51.100.7", {"X-Forwarded-For": "203.0.113.9"}, (), "198.51.100.7"),
    ("198.51.100.7", {"X-Real-IP": "203.0.113.9"}, (), "198.51.100.7"),
    ("198.51.100.7", {"Forwarded": "for=203.0.113.9"}, (), "198.51.100.7"),
    # Spoofed headers from a peer that is not a trusted proxy.
    ("198.51.100.7", {"X-Forwarded-For": "10.0.0.1, 203.0.113.9"}, PROXIES, "198.51.100.7"),
    ("198.51.100.7", {"x-real-ip": "203.0.113.9"}, PROXIES, "198.51.100.7"),
    # A trusted proxy: the rightmost address that is not a trusted proxy.
    ("10.0.0.2", {"X-Forwarded-For": "203.0.113.9"}, PROXIES, "203.0.113.9"),
    ("10.0.0.2", {"X-Forwarded-For": "6.6.6.6, 203.0.113.9"}, PROXIES, "203.0.113.9"),
    # Several trusted hops, and what the client wrote itself left of them.
    (
        "10.0.0.2",
        {"X-Forwarded-For": "1.2.3.4, 203.0.113.9, 10.1.1.1, 10.2.2.2"},
        PROXIES,
        "203.0.113.9",
    ),
    # Only trusted hops: the leftmost one.
    ("10.0.0.2", {"X-Forwarded-For": "10.1.1.1, 10.2.2.2"}, PROXIES, "10.1.1.1"),
    # No header from a trusted proxy: the proxy itself.
    ("10.0.0.2", {}, PROXIES, "10.0.0.2"),
    # X-Forwarded-For first, then Forwarded, then X-Real-IP.
    (
        "10.0.0.2",
        {"X-Real-IP": "1.1.1.1", "X-Forwarded-For": "203.0.113.9"},
        PROXIES,
        "203.0.113.9",
    ),
    ("10.0.0.2", {"X-Real-IP": "203.0.113.9"}, PROXIES, "203.0.113.9"),
    (
        "10.0.0.2",
        {"Forwarded": 'for=1.1.1.1, for="[2001:db8::17]:4711";proto=https, for=10.3.3.3'},
        PROXIES,
        "2001:db8::17",
    ),
    ("10.0.0.2", {"Forwarded": "for=203.0.113.9:8080;by=10.0.0.2"}, PROXIES, "203.0.113.9"),
    # IPv6 peers and hops.
    ("fd00::1", {"X-Forwarded-For": "2001:db8::1, fd00::2"}, PROXIES, "2001:db8::1"),
    ("2001:db8::5", {"X-Forwarded-For": "2001:db8::1"}, PROXIES, "2001:db8::5"),
    ("::ffff:10.0.0.2", {"X-Forwarded-For": "::ffff:203.0.113.9"}, PROXIES, "203.0.113.9"),
    ("10.0.0.2", {"X-Forwarded-For": "[2001:db8::1]:443"}, PROXIES, "2001:db8::1"),
    # Garbage written by a trusted proxy: the chain stops at that proxy.
    ("10.0.0.2", {"X-Forwarded-For": "203.0.113.9, not-an-address"}, PROXIES, "10.0.0.2"),
    ("10.0.0.2", {"X-Forwarded-For": "1.2.3.4, junk, 10.1.1.1"}, PROXIES, "10.1.1.1"),
    ("10.0.0.2", {"X-Forwarded-For": "203.0.113.9,,"}, PROXIES, "10.0.0.2"),
    ("10.0.0.2", {"X-Real-IP": "999.1.1.1"}, PROXIES, "10.0.0.2"),
    ("10.0.0.2", {"Forwarded": "for=unknown"}, PROXIES, "10.0.0.2"),
    ("10.0.0.2", {"Forwarded": "proto=https"}, PROXIES, "10.0.0.2"),
    ("10.0.0.2", {"X-Forwarded-For": "   "}, PROXIES, "10.0.0.2"),
    # A peer that is not an address (a Unix socket) is returned as it is.
    ("", {"X-Forwarded-For": "203.0.113.9"}, PROXIES, ""),
]


@pytest.mark.parametrize(("peer", "headers", "trusted", "expected"), CASES)
def test_client_address(peer, headers, trusted, expected) -> None:
    assert client_address(peer, headers, trusted) == expected


def test_trusted_networks_refuse_what_is_not_a_network() -> None:
    with pytest.raises(ValueError):
        trusted_networks(["10.0.0.0/33"])
