"""A userspace UDP relay between a test peer and the server whose link is a rate limit.

tests/support/udp_relay.py is the general impairment relay (loss, delay, jitter, a rate with a
drop-tail queue); this one models the two kinds of narrow link of issue 15 (a drop-tail queue
with a buffer in seconds, or a policer: tests/support/rate_limit.py), in either direction, for
the network adaptation tests and benchmark.

The peer is told the relay's *peer side* is the server's ICE candidate, and the server is told
the relay's *server side* is the peer's: every datagram of the connection (STUN, DTLS, SRTP)
goes through the relay (``rewrite_offer`` / ``rewrite_answer`` for a connection the server
offers, ``for_peer`` / ``for_server`` in general). Datagrams from the server to the peer pass
the ``downlink`` :class:`~tests.support.rate_limit.RateLimit` (a subscriber's link), those from
the peer to the server the ``uplink`` one (a publisher's). Everything stays on 127.0.0.1.

Delayed datagrams are sent by ``loop.call_at``; a queue model drops what would wait more than
its buffer, so the number pending is bounded by the rate times the buffer.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable

from tests.support.rate_limit import RateLimit

_CANDIDATE = re.compile(r"^a=candidate:(\S+) (\d) (udp|UDP) (\d+) (\S+) (\d+) typ (\w+).*$")


class _Side(asyncio.DatagramProtocol):
    def __init__(self, on_datagram: object) -> None:
        self.on_datagram = on_datagram
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a datagram endpoint's transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.on_datagram(data, addr)  # type: ignore[operator]


class RateRelay:
    """Both sides listen on ``address`` (ephemeral ports unless ``ports``, the peer side's and
    the server side's, are given: tests/support/ns_rate_relay.py binds known ports). The
    server's candidates are on ``server_address`` (default: ``address``; in a network namespace,
    the veth's host side)."""

    def __init__(
        self,
        downlink: RateLimit,
        uplink: RateLimit | None = None,
        *,
        address: str = "127.0.0.1",
        ports: tuple[int, int] = (0, 0),
        server_address: str | None = None,
    ) -> None:
        self.address, self.ports = address, ports
        self.server_address = server_address or address
        self.downlink = downlink
        self.uplink = uplink or RateLimit(None)
        self.peer_addr: tuple[str, int] | None = None
        self.server_addr: tuple[str, int] | None = None
        self._peer_side: _Side | None = None
        self._server_side: _Side | None = None
        self._pending: set[asyncio.TimerHandle] = set()
        self.bytes_to_peer = 0

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        _, self._peer_side = await loop.create_datagram_endpoint(
            lambda: _Side(self._from_peer), local_addr=(self.address, self.ports[0])
        )
        _, self._server_side = await loop.create_datagram_endpoint(
            lambda: _Side(self._from_server), local_addr=(self.address, self.ports[1])
        )

    @property
    def peer_side_port(self) -> int:
        assert self._peer_side is not None and self._peer_side.transport is not None
        return int(self._peer_side.transport.get_extra_info("sockname")[1])

    @property
    def server_side_port(self) -> int:
        assert self._server_side is not None and self._server_side.transport is not None
        return int(self._server_side.transport.get_extra_info("sockname")[1])

    # ------------------------------------------------------------ SDP

    def for_peer(self, sdp: str) -> str:
        """The server's SDP as the peer should see it: the relay's peer side is its candidate."""
        self.server_addr, out = point_candidates(sdp, self.server_address, (self.address, self.peer_side_port))
        return out

    def for_server(self, sdp: str) -> str:
        """The peer's SDP as the server should see it: the relay's server side is its candidate."""
        self.peer_addr, out = point_candidates(sdp, self.address, (self.address, self.server_side_port))
        return out

    rewrite_offer = for_peer
    rewrite_answer = for_server

    # ------------------------------------------------------------ datagrams

    def _from_peer(self, data: bytes, addr: tuple[str, int]) -> None:
        self.peer_addr = addr
        self._through(self.uplink, data, self._to_server)

    def _from_server(self, data: bytes, addr: tuple[str, int]) -> None:
        self._through(self.downlink, data, self._to_peer)

    def _through(self, link: RateLimit, data: bytes, deliver: Callable[[bytes], None]) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        leave = link.offer(len(data) + 28, now)  # + IP and UDP headers
        if leave is None:
            return
        if leave <= now:
            deliver(data)
            return
        handle = loop.call_at(leave, self._later, deliver, data)
        self._pending.add(handle)

    def _later(self, deliver: Callable[[bytes], None], data: bytes) -> None:
        self._pending = {h for h in self._pending if not h.cancelled() and h.when() > asyncio.get_running_loop().time()}
        deliver(data)

    def _to_server(self, data: bytes) -> None:
        if self.server_addr is not None and self._server_side and self._server_side.transport:
            self._server_side.transport.sendto(data, self.server_addr)

    def _to_peer(self, data: bytes) -> None:
        if self.peer_addr is not None and self._peer_side and self._peer_side.transport:
            self.bytes_to_peer += len(data)
            self._peer_side.transport.sendto(data, self.peer_addr)

    def close(self) -> None:
        for handle in self._pending:
            handle.cancel()
        self._pending.clear()
        for side in (self._peer_side, self._server_side):
            if side is not None and side.transport is not None:
                side.transport.close()


def point_candidates(sdp: str, of: str, to: tuple[str, int]) -> tuple[tuple[str, int] | None, str]:
    """``sdp`` with one UDP host candidate of address ``of`` per section, pointing at ``to``
    instead, and no other candidate; and the first such candidate's own address (None: none)."""
    original: tuple[str, int] | None = None
    lines: list[str] = []
    kept_in_section = False
    for line in sdp.splitlines():
        if line.startswith("m="):
            kept_in_section = False
        match = _CANDIDATE.match(line)
        if match is not None:
            address, candidate_port, kind = match.group(5), int(match.group(6)), match.group(7)
            if kind != "host" or kept_in_section or address != of:
                continue
            if original is None:
                original = (address, candidate_port)
            kept_in_section = True
            line = (
                f"a=candidate:{match.group(1)} {match.group(2)} {match.group(3)} {match.group(4)} "
                f"{to[0]} {to[1]} typ host"
            )
        lines.append(line)
    return original, "\r\n".join(lines) + "\r\n"
