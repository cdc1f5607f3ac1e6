"""The client's address behind a reverse proxy (``[server] trusted_proxies``).

A request whose socket peer is one of the trusted proxies (nginx on the same machine:
``127.0.0.1/32``) carries the client's address in ``X-Forwarded-For``, which each proxy
appends to (``$proxy_add_x_forwarded_for``). Read from the right, the first address that is
not a trusted proxy is the client: what a client wrote there itself stays on the left and is
never believed. A peer that is not a trusted proxy is the client; its header is ignored.
"""

from __future__ import annotations

import ipaddress

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(values: tuple[str, ...]) -> tuple[Network, ...]:
    """``("127.0.0.1", "10.0.0.0/8")`` -> networks; ValueError naming a bad one."""
    out: list[Network] = []
    for value in values:
        try:
            out.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{value!r} is not an address or network like 127.0.0.1 or 10.0.0.0/8") from None
    return tuple(out)


def _trusted(address: str, trusted: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip().strip("[]"))
    except ValueError:
        return False
    return any(ip in network for network in trusted)


def client_address(peer: str, forwarded_for: str | None, trusted: tuple[Network, ...]) -> str:
    """The client's address: ``peer``, or from ``forwarded_for`` when ``peer`` is a trusted proxy."""
    if not trusted or not forwarded_for or not _trusted(peer, trusted):
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, trusted):
            try:
                return str(ipaddress.ip_address(hop.strip("[]")))
            except ValueError:
                return peer  # not an address (garbage or "unknown"): the proxy is all we know
    return hops[0] if hops else peer
