"""Who is calling: the client's address, believing forwarded headers only from trusted proxies.

Pure functions of the TCP peer, the headers and the trusted networks, so any server in front of
the gateway's code (Django's or the edge server's) can call them without a Django request.

A forwarded header is only as good as whoever wrote it. Any client can send
``X-Forwarded-For: 1.2.3.4``, so the headers are read only when the TCP peer is in
``TRUSTED_PROXY_NETWORKS``, and then from the right: each trusted proxy appends the address it
received the call from, so the rightmost entry that is not a trusted proxy is the client. What a
client wrote itself sits further left and is never reached. One header is read, the first present
of ``X-Forwarded-For``, ``Forwarded`` (RFC 7239 ``for=``), ``X-Real-IP``; a trusted proxy must set
or append the one it is configured to write, and a proxy that passes a client's header through
untouched must not be trusted. Repeated header lines must be joined with ", " (WSGI servers do).
"""

import ipaddress
from collections.abc import Iterable, Mapping, Sequence

type IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
type IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def trusted_networks(values: Iterable[str]) -> tuple[IPNetwork, ...]:
    """Parse CIDRs (or single addresses) such as ``10.0.0.0/8``; raise ValueError on a bad one."""
    return tuple(ipaddress.ip_network(value.strip(), strict=False) for value in values if value)


def client_address(peer: str, headers: Mapping[str, str], trusted: Sequence[IPNetwork]) -> str:
    """Return the address of the client: ``peer``, or what trusted proxies say they received.

    ``headers`` names may be in any case. Returns ``peer`` unchanged when it is not an address
    (a Unix socket); otherwise a normalised address (IPv4-mapped IPv6 as IPv4).
    """
    address = parse_address(peer)
    if address is None:
        return peer
    if not trusted or not _is_trusted(address, trusted):
        return str(address)
    by_name = {name.lower(): value for name, value in headers.items()}
    if by_name.get("x-forwarded-for", "").strip():
        hops = by_name["x-forwarded-for"].split(",")
    elif by_name.get("forwarded", "").strip():
        hops = _forwarded_for(by_name["forwarded"])
    elif by_name.get("x-real-ip", "").strip():
        hops = [by_name["x-real-ip"]]
    else:
        hops = []
    for hop in reversed(hops):
        if not _is_trusted(address, trusted):
            break
        reported = parse_address(hop)
        if reported is None:
            # A trusted proxy wrote something that is not an address: the proxy is as far as
            # the chain can be followed.
            break
        address = reported
    return str(address)


def parse_address(value: str) -> IPAddress | None:
    """Return the address in ``value`` (bare, ``[v6]``, with a port, quoted), or None."""
    value = value.strip().strip('"')
    if value.startswith("["):
        value = value[1:].partition("]")[0]
    elif value.count(":") == 1:  # IPv4 with a port; a bare IPv6 address has two colons or more
        value = value.partition(":")[0]
    try:
        address = ipaddress.ip_address(value.partition("%")[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _is_trusted(address: IPAddress, trusted: Sequence[IPNetwork]) -> bool:
    return any(address in network for network in trusted)


def _forwarded_for(header: str) -> list[str]:
    """Return the ``for=`` value of every element of a ``Forwarded`` header, in order."""
    hops = []
    for element in header.split(","):
        found = ""  # an element without for= cannot be followed past
        for pair in element.split(";"):
            name, _, value = pair.partition("=")
            if name.strip().lower() == "for":
                found = value
                break
        hops.append(found)
    return hops
