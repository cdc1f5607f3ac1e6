"""ICE: aioice's process-wide behaviour, set from our configuration and given back on close.

aioice leaves 127.0.0.1 out of its host candidates, binds ephemeral ports, talks ICE to any
address a peer names and parses every datagram as STUN first. A media server wants the
announced addresses, the UDP port range and the remote networks from its configuration, and
media datagrams handed on without a STUN parse. These are module- and class-level attributes
of ``aioice.ice`` (process-wide): :func:`restore_aioice` gives every one of them back, and
``MediaServer.close`` calls it (tests/sfu/aiortc_hooks/test_ice.py checks all of them).
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
from collections.abc import Mapping, Sequence
from typing import Any

import aioice.ice

from sfu.aiortc_hooks._private import HookError
from sfu.aiortc_hooks.udp_mux import UdpMux, wants_shared_port

# aioice's own, taken when this module is first imported (before any patch of ours).
_ORIGINAL_GET_HOST_ADDRESSES = aioice.ice.get_host_addresses
_ORIGINAL_ASYNCIO = vars(aioice.ice)["asyncio"]  # the module aioice.ice imported
_ORIGINAL_ADD_REMOTE = aioice.ice.Connection._add_remote_candidate
_ORIGINAL_REQUEST_RECEIVED = aioice.ice.Connection.request_received
_ORIGINAL_DATAGRAM_RECEIVED = aioice.ice.StunProtocol.datagram_received
_ORIGINAL_COMPONENT_CANDIDATES = aioice.ice.Connection.get_component_candidates


def configure_host_addresses(addresses: Sequence[str]) -> None:
    """Announce exactly these local addresses as ICE host candidates (process-wide)."""
    chosen = list(addresses)

    def get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        out = []
        for address in chosen:
            is_v6 = ":" in address
            if (is_v6 and use_ipv6) or (not is_v6 and use_ipv4):
                out.append(address)
        return out

    aioice.ice.get_host_addresses = get_host_addresses


def configure_announced_addresses(announced_by_local: Mapping[str, str]) -> None:
    """Host candidates bound on a local address carry the address announced for it (process-wide).

    The socket stays bound where it is; only the candidate (what the SDP and the checks'
    pairing show) names the announced address, which a 1:1 NAT maps back to the bound one.
    The candidate object is the one aioice keeps as its protocol's ``local_candidate``, so
    the pair it nominates names the announced address too. Same IP version only (checked by
    ``IceConfig``): aioice pairs candidates by version.
    """
    _GATHERING.announced = dict(announced_by_local)
    _install_gathering()


def configure_udp_mux(mux: UdpMux | None) -> None:
    """Connections marked by ``use_shared_udp_port`` gather their host candidates on ``mux``
    (process-wide; None: on their own sockets, aioice's way)."""
    _GATHERING.mux = mux
    _install_gathering()


class _Gathering:
    """What our ``get_component_candidates`` does differently from aioice's."""

    def __init__(self) -> None:
        self.announced: dict[str, str] = {}
        self.mux: UdpMux | None = None


_GATHERING = _Gathering()


def _install_gathering() -> None:
    patched = bool(_GATHERING.announced) or _GATHERING.mux is not None
    aioice.ice.Connection.get_component_candidates = (  # type: ignore[method-assign]
        _get_component_candidates if patched else _ORIGINAL_COMPONENT_CANDIDATES
    )


async def _get_component_candidates(self: Any, component: int, addresses: list[str], timeout: int = 5) -> Any:
    mux = _GATHERING.mux
    if mux is not None and wants_shared_port(self):
        # host candidates on the shared sockets; aioice's own only for STUN/TURN (no host sockets)
        candidates = await mux.host_candidates(self, component, addresses)
        candidates += await _ORIGINAL_COMPONENT_CANDIDATES(self, component, [], timeout)
    else:
        candidates = await _ORIGINAL_COMPONENT_CANDIDATES(self, component, addresses, timeout)
    mapping = _GATHERING.announced
    for candidate in candidates:
        announced = mapping.get(candidate.host) if candidate.type == "host" else None
        if announced is not None:
            candidate.host = announced
            candidate.foundation = aioice.ice.candidate_foundation("host", candidate.transport, announced)
    return candidates


def configure_port_range(port_min: int, port_max: int) -> None:
    """Bind ICE host candidates inside [port_min, port_max] (0, 0 = any port).

    aioice binds ``(address, 0)`` through ``asyncio.get_running_loop().create_datagram_endpoint``.
    We give the ``aioice.ice`` module (only it) an ``asyncio`` whose running loop binds
    datagram endpoints in the range and forwards everything else to the real loop.
    """
    if port_min == 0 and port_max == 0:
        setattr(aioice.ice, "asyncio", _ORIGINAL_ASYNCIO)  # noqa: B010
        return
    if not (1024 <= port_min <= port_max <= 65535):
        raise ValueError(f"UDP port range {port_min}-{port_max} is not within 1024-65535")
    setattr(aioice.ice, "asyncio", _AsyncioWithPortRange(port_min, port_max))  # noqa: B010


def _datagram_received(self: Any, data: Any, addr: tuple[Any, ...]) -> None:
    # A STUN message starts with two zero bits (RFC 7983: first byte 0-3); DTLS starts at
    # 20, RTP/RTCP at 128. aioice tries every datagram as STUN and passes it on when the
    # parse raises: same outcome, without a parse and an exception per media packet.
    if data and data[0] > 3:
        self.receiver.data_received(data, self.local_candidate.component)
    else:
        _ORIGINAL_DATAGRAM_RECEIVED(self, data, addr)


def configure_stun_fast_path(enabled: bool) -> None:
    """Hand non-STUN datagrams straight to the ICE connection (see ``_datagram_received``).

    Process-wide and for sockets opened afterwards (uvloop keeps the method it found when
    the socket opened); behaviour is unchanged, so aiortc peers in the same process (tests,
    the load tester) are unaffected.
    """
    aioice.ice.StunProtocol.datagram_received = (  # type: ignore[method-assign]
        _datagram_received if enabled else _ORIGINAL_DATAGRAM_RECEIVED
    )


def configure_remote_networks(networks: Sequence[str]) -> None:
    """Only talk ICE to remote addresses inside these networks (empty: any address).

    Remote candidates outside them (from SDP or trickled) are ignored, and connectivity
    checks from outside are dropped, so no peer-reflexive candidate is learnt from them
    and nothing is ever sent there. Tests use it to keep every packet on loopback even
    when a browser offers the machine's other interfaces.
    """
    allowed = [ipaddress.ip_network(n, strict=False) for n in networks]
    if not allowed:
        aioice.ice.Connection._add_remote_candidate = _ORIGINAL_ADD_REMOTE  # type: ignore[method-assign]
        aioice.ice.Connection.request_received = _ORIGINAL_REQUEST_RECEIVED  # type: ignore[method-assign]
        return

    def permitted(host: str) -> bool:
        try:
            address = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return False
        return any(address in net for net in allowed)

    def add_remote_candidate(self: Any, candidate: Any, remote_addr: str) -> None:
        if permitted(remote_addr):
            _ORIGINAL_ADD_REMOTE(self, candidate, remote_addr)

    def request_received(self: Any, message: Any, addr: tuple[str, int], protocol: Any) -> None:
        if permitted(addr[0]):
            _ORIGINAL_REQUEST_RECEIVED(self, message, addr, protocol)

    aioice.ice.Connection._add_remote_candidate = add_remote_candidate  # type: ignore[method-assign,assignment]
    aioice.ice.Connection.request_received = request_received  # type: ignore[method-assign]


def patched_aioice_attributes() -> list[str]:
    """The process-wide aioice attributes that are not aioice's own right now."""
    current = {
        "ice.get_host_addresses": (aioice.ice.get_host_addresses, _ORIGINAL_GET_HOST_ADDRESSES),
        "ice.asyncio": (vars(aioice.ice)["asyncio"], _ORIGINAL_ASYNCIO),
        "Connection._add_remote_candidate": (aioice.ice.Connection._add_remote_candidate, _ORIGINAL_ADD_REMOTE),
        "Connection.request_received": (aioice.ice.Connection.request_received, _ORIGINAL_REQUEST_RECEIVED),
        "StunProtocol.datagram_received": (aioice.ice.StunProtocol.datagram_received, _ORIGINAL_DATAGRAM_RECEIVED),
        "Connection.get_component_candidates": (aioice.ice.Connection.get_component_candidates, _ORIGINAL_COMPONENT_CANDIDATES),
    }
    return sorted(name for name, (now, original) in current.items() if now is not original)


def restore_aioice() -> None:
    """Give aioice back every process-wide attribute this module may have replaced.

    Other aiortc users in the process (tests, tools) are then no longer bound by a closed
    server's rules: its addresses, port range, remote networks, datagram handler and shared
    UDP port (which the server closes itself).
    """
    aioice.ice.get_host_addresses = _ORIGINAL_GET_HOST_ADDRESSES
    configure_port_range(0, 0)
    configure_remote_networks(())
    configure_stun_fast_path(False)
    configure_announced_addresses({})
    configure_udp_mux(None)
    leftover = patched_aioice_attributes()
    if leftover:
        raise HookError(f"aioice attributes still patched after restore: {', '.join(leftover)}")


class _AsyncioWithPortRange:
    """The asyncio module as aioice.ice sees it when a port range is configured."""

    def __init__(self, port_min: int, port_max: int) -> None:
        self._range = (port_min, port_max)

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)

    def get_running_loop(self) -> Any:
        return _PortRangeLoop(asyncio.get_running_loop(), *self._range)


class _PortRangeLoop:
    """Forwards everything to the real loop, but binds datagram endpoints inside a range."""

    def __init__(self, loop: asyncio.AbstractEventLoop, port_min: int, port_max: int) -> None:
        self._loop = loop
        self._range = (port_min, port_max)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loop, name)

    async def create_datagram_endpoint(self, factory: Any, local_addr: Any = None, **kwargs: Any) -> Any:
        if local_addr is None or local_addr[1] != 0:
            return await self._loop.create_datagram_endpoint(factory, local_addr=local_addr, **kwargs)
        low, high = self._range
        ports = list(range(low, high + 1))
        random.shuffle(ports)
        for port in ports[:256]:
            try:
                return await self._loop.create_datagram_endpoint(
                    factory, local_addr=(local_addr[0], port), **kwargs
                )
            except OSError:
                continue
        raise OSError(f"no free UDP port in {low}-{high} on {local_addr[0]}")
