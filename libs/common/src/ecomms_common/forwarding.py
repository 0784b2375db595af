"""Who a request came from: forwarded headers are believed only from our own proxies.

A proxy in front of a service (the gateway in front of catalog and orders, the Ingress in front of
the gateway) says in ``X-Forwarded-Host``/``-Proto``/``-For``/``-Port`` and ``Forwarded`` where
the client's request really went, so that absolute URLs (pagination links, ``Location``) name
the public origin. Anyone else could write the same headers to forge that origin, so
:class:`ForwardedHeadersMiddleware`, first in ``MIDDLEWARE``, removes them from every request
whose peer (``REMOTE_ADDR``) is not in ``TRUSTED_PROXY_NETWORKS``. Django then reads what is
left: ``USE_X_FORWARDED_HOST`` and ``SECURE_PROXY_SSL_HEADER`` are safe to turn on.
"""

import ipaddress
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# The WSGI names of every header by which a proxy describes the client's request.
FORWARDING_META_KEYS = (
    "HTTP_FORWARDED",
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_X_FORWARDED_PORT",
    "HTTP_X_FORWARDED_PROTO",
)


@lru_cache(maxsize=16)
def parse_networks(cidrs: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    """Return the networks a CIDR list names; raise ImproperlyConfigured on a bad entry."""
    networks = []
    for cidr in cidrs:
        if not cidr.strip():
            continue
        try:
            networks.append(ipaddress.ip_network(cidr.strip(), strict=False))
        except ValueError as exc:
            raise ImproperlyConfigured(f"{cidr!r} is not a network in CIDR notation.") from exc
    return tuple(networks)


@lru_cache(maxsize=1024)
def _address_in(address: str, networks: tuple[IPNetwork, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip().removeprefix("[").removesuffix("]"))
    except ValueError:
        return False  # no address, a Unix socket, garbage: nobody we trust
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # a dual-stack socket's view of an IPv4 peer
    return any(ip in network for network in networks)


def address_in(address: str | None, cidrs: Iterable[str]) -> bool:
    """Return whether ``address`` (an IP address, or anything else) is in one of ``cidrs``."""
    if not address:
        return False
    return _address_in(address, parse_networks(tuple(cidrs)))


def peer_is_trusted_proxy(meta: Mapping[str, object]) -> bool:
    """Return whether the request's peer is one of ``TRUSTED_PROXY_NETWORKS``."""
    peer = meta.get("REMOTE_ADDR")
    return isinstance(peer, str) and address_in(peer, settings.TRUSTED_PROXY_NETWORKS)


def carries_forwarding(meta: Mapping[str, object]) -> bool:
    """Return whether the request has any header by which a proxy describes a client."""
    return any(key in meta for key in FORWARDING_META_KEYS)


def strip_untrusted_forwarding(meta: dict[str, object]) -> None:
    """Remove the forwarding headers from ``meta`` unless its peer is a trusted proxy."""
    if carries_forwarding(meta) and not peer_is_trusted_proxy(meta):
        for key in FORWARDING_META_KEYS:
            meta.pop(key, None)


def came_through_proxy(request: HttpRequest) -> bool:
    """Return whether a proxy forwarded this request for a client (after the middleware ran)."""
    return carries_forwarding(request.META)


class ForwardedHeadersMiddleware:
    """Drop forwarding headers sent by anyone but ``TRUSTED_PROXY_NETWORKS``; first in the list."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        strip_untrusted_forwarding(request.META)
        return self.get_response(request)
