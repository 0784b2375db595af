"""The headers that tell a service behind the gateway where the client's request went.

:func:`forwarded_headers` is pure, so that every server in front of the services (the Django
proxy, an asynchronous edge server) writes the same ones from what it knows about the request:
the peer's address, and the scheme and host as the gateway resolved them (believing an Ingress's
own forwarding headers only when ``TRUSTED_PROXY_NETWORKS`` names it: ecomms_common.forwarding).
"""

import functools
import ipaddress
import re

# Lower-case names of the headers this module writes; a client's copies are never passed on.
FORWARDING_HEADERS = frozenset(
    {"forwarded", "x-forwarded-for", "x-forwarded-host", "x-forwarded-port", "x-forwarded-proto"}
)
# RFC 7230 token characters: a Forwarded value made of these needs no quotes.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# RFC 7239 section 6.3: an obfuscated identifier a proxy may give instead of an address.
_OBFUSCATED = re.compile(r"_[A-Za-z0-9._-]+")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def forwarded_headers(
    *, client: str, scheme: str, host: str, prior_for: str | None
) -> dict[str, str]:
    """Return X-Forwarded-For/-Proto/-Host and Forwarded (RFC 7239) for one proxied request.

    ``client`` is the peer's address, ``scheme`` and ``host`` the request's as the gateway
    understood them, ``prior_for`` the X-Forwarded-For a trusted proxy sent (None otherwise).
    Each earlier hop becomes a ``for=`` element of ``Forwarded``; the last element, the
    gateway's, also carries the host and the protocol.
    """
    prior = [hop.strip() for hop in (prior_for or "").split(",") if hop.strip()]
    elements = [f"for={forwarded_node(hop)}" for hop in prior]
    elements.append(
        f"for={forwarded_node(client)};host={forwarded_value(host)};proto={forwarded_value(scheme)}"
    )
    return {
        "X-Forwarded-For": ", ".join([*prior, client]),
        "X-Forwarded-Proto": scheme,
        "X-Forwarded-Host": host,
        "Forwarded": ", ".join(elements),
    }


@functools.lru_cache(maxsize=4096)
def forwarded_node(address: str) -> str:
    """Return an address as a ``for=`` value: IPv4 bare, IPv6 bracketed and quoted."""
    try:
        ip = ipaddress.ip_address(address.strip().removeprefix("[").removesuffix("]"))
    except ValueError:
        # Not an address: keep an obfuscated identifier, say nothing about anything else.
        return address if _OBFUSCATED.fullmatch(address) else "unknown"
    if ip.version == 6:
        return f'"[{ip.compressed}]"'
    return str(ip)


@functools.lru_cache(maxsize=1024)
def forwarded_value(value: str) -> str:
    """Return a value as a token if it is one, else as an RFC 7230 quoted-string."""
    value = _CONTROL.sub("", value)
    if _TOKEN.fullmatch(value):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
