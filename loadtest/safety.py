"""Where the tester may send traffic: loopback and the network namespaces it creates itself.

Every remote SDP goes through :func:`filter_sdp_candidates` before it is applied, so no
ICE connectivity check is ever sent to an address outside the allowed networks; every
URL goes through :func:`check_url`. (Which local addresses the peers gather on is
:func:`loadtest.aiortc_seams.gather_on`.)
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from urllib.parse import urlsplit

LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class UnsafeTargetError(Exception):
    """A URL, address or SDP that would send traffic outside the allowed networks."""


def allowed(address: str, networks: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False  # host names (mDNS .local, ...) are never resolved
    return any(ip in net for net in networks)


def filter_sdp_candidates(sdp: str, networks: Sequence[Network]) -> str:
    """Drop every ``a=candidate`` line whose address is outside ``networks``.

    Raises :class:`UnsafeTargetError` when no candidate is left (nothing to connect to).
    """
    kept: list[str] = []
    usable = 0
    for line in sdp.splitlines():
        if line.startswith("a=candidate:"):
            parts = line.split()
            # a=candidate:<foundation> <component> <transport> <priority> <address> <port> typ ...
            if len(parts) < 8 or not allowed(parts[4], networks):
                continue
            usable += 1
        kept.append(line)
    if usable == 0:
        raise UnsafeTargetError(
            "remote SDP has no ICE candidate inside the allowed networks "
            + ", ".join(str(n) for n in networks)
        )
    return "\r\n".join(kept) + "\r\n"


def candidate_allowed(candidate_line: str, networks: Sequence[Network]) -> bool:
    """A trickled candidate (``candidate:...`` with or without the ``a=``)."""
    parts = candidate_line.removeprefix("a=").split()
    return len(parts) >= 8 and allowed(parts[4], networks)


def check_url(url: str, networks: Sequence[Network]) -> str:
    """Accept only http(s)/ws(s) URLs whose host is a literal address in ``networks`` (or localhost)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https", "ws", "wss"):
        raise UnsafeTargetError(f"url {url!r}: scheme must be http, https, ws or wss")
    host = parts.hostname or ""
    if host == "localhost":
        host = "127.0.0.1"
    if not allowed(host, networks):
        raise UnsafeTargetError(
            f"url {url!r}: host must be a loopback address or inside "
            + ", ".join(str(n) for n in networks)
        )
    return url
