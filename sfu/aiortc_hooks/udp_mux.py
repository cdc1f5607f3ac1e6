"""One UDP port for every ICE connection of the process (``ice.udp_port``): the asyncio shell.

aioice gives each ICE connection its own socket (a ``StunProtocol`` per host address). Here
one socket per host address, all on the same port, is opened once; each server connection
gets a :class:`_LegProtocol` (aioice's ``StunProtocol``, so aioice's checks, consent and
aiortc's transports work unchanged) whose transport writes through the shared socket, and
the shared socket's protocol hands each datagram to the right one: by remote address (one
dict lookup: the packet path), else by the rules of :class:`sfu.udp_demux.DemuxTable`.

Costs on the packet path: receiving is one dict lookup more than before (the lookup
replaces aioice's per-socket protocol call); sending is unchanged, the leg transport's
``sendto`` *is* the shared socket's (``send_now`` calls it directly). A shared socket drains
up to 32 datagrams per readiness event, as libuv does, also on asyncio's own loop (which
reads one): with every connection on one socket, one per loop iteration is not enough.

Only connections marked by :func:`use_shared_udp_port` (the server's) gather here; other
aiortc users of the process (test peers, the load tester) keep their own sockets.
"""

from __future__ import annotations

import asyncio
import asyncio.selector_events
import secrets
import socket
import string
from collections.abc import Sequence
from typing import Any

import aioice.ice
import aioice.stun
from aioice.candidate import Candidate, candidate_foundation, candidate_priority
from aiortc import RTCPeerConnection

from sfu.aiortc_hooks._private import HookError, private
from sfu.udp_demux import DemuxTable

_RECEIVE_BUFFER = 4 * 1024 * 1024  # one socket carries every connection: a larger buffer than aioice's 256 kB
_READS_PER_EVENT = 32  # datagrams read per readiness event, as libuv does (fairness with the loop's other work)
_MAX_DATAGRAM = 65536
_UFRAG_ALPHABET = string.ascii_letters + string.digits
_MARK = "_sfu_shared_udp_port"


def use_shared_udp_port(pc: RTCPeerConnection) -> None:
    """Mark ``pc``'s ICE connections to gather on the shared port (when one is configured).

    Call before ``setLocalDescription`` (gathering); harmless without ``ice.udp_port``.
    """
    transports = private(pc, "_RTCPeerConnection__", "iceTransports")
    for transport in transports:
        connection = transport.iceGatherer._connection
        setattr(connection, _MARK, True)


def wants_shared_port(connection: Any) -> bool:
    return bool(getattr(connection, _MARK, False))


class _LegTransport(asyncio.DatagramTransport):
    """A connection's view of the shared socket: writes go out on it, close detaches the leg."""

    def __init__(self, shared: _SharedSocket, leg: _LegProtocol) -> None:
        super().__init__()
        self._shared = shared
        self._leg = leg
        self._closed = False
        # the shared socket's own method: no Python frame of ours per packet sent
        self.sendto = shared.transport.sendto  # type: ignore[method-assign]

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "sockname":
            return self._shared.sockname
        return default

    def is_closing(self) -> bool:
        return self._closed

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.sendto = _dropped  # type: ignore[method-assign]
        self._shared.table.remove(self._leg)
        self._leg.connection_lost(None)  # aioice's close() awaits it

    def abort(self) -> None:
        self.close()


def _dropped(data: Any, addr: Any = None) -> None:
    """A closed leg's sendto: nothing leaves."""


class _LegProtocol(aioice.ice.StunProtocol):
    """aioice's protocol of one connection on the shared socket; its checks are announced to the table."""

    def __init__(self, receiver: aioice.ice.Connection, shared: _SharedSocket) -> None:
        super().__init__(receiver)
        self._shared = shared

    async def request(
        self,
        request: aioice.stun.Message,
        addr: tuple[str, int],
        integrity_key: bytes | None = None,
        retransmissions: int | None = None,
    ) -> tuple[aioice.stun.Message, tuple[str, int]]:
        table = self._shared.table
        txid = request.transaction_id
        table.expect_response(txid, self)
        try:
            return await super().request(request, addr, integrity_key, retransmissions)
        finally:
            table.response_done(txid)


def _verify(leg: _LegProtocol, data: bytes) -> bool:
    """The binding request's MESSAGE-INTEGRITY holds with the leg's connection's password."""
    try:
        message = aioice.stun.parse_message(data)
    except ValueError:
        return False
    if "MESSAGE-INTEGRITY" not in message.attributes:
        return False
    return bool(message.check_message_integrity(leg.receiver.local_password.encode("utf8")))


class _SharedSocket(asyncio.DatagramProtocol):
    """The shared socket of one host address and its demultiplexing table."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.sockname: tuple[Any, ...] = sock.getsockname()
        self.table: DemuxTable[_LegProtocol] = DemuxTable()
        self.transport: asyncio.DatagramTransport
        self.errors = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        """On asyncio's selector loop: this datagram and the rest of the burst (see :meth:`UdpMux._open`)."""
        self._dispatch(data, addr)
        recvfrom = self.sock.recvfrom
        for _ in range(_READS_PER_EVENT - 1):
            try:
                data, addr = recvfrom(_MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return  # drained
            except OSError as exc:  # as asyncio's own read does: an error for one peer, or the socket closed
                self.error_received(exc)
                return
            self._dispatch(data, addr)

    def _dispatch(self, data: bytes, addr: tuple[Any, ...]) -> None:
        leg = self.table.by_address.get(addr)
        # media (RFC 7983: DTLS 20-63, RTP/RTCP 128-191) from a known peer: straight to its connection
        if leg is not None and data and data[0] > 3:
            leg.receiver.data_received(data, 1)
            return
        leg = self.table.route(data, addr, _verify)
        if leg is not None:
            leg.datagram_received(data, addr)

    def error_received(self, exc: Exception) -> None:
        self.errors += 1  # ICMP errors for one peer: not the socket's end


class UdpMux:
    """The shared sockets: one per host address, all bound on ``port``."""

    def __init__(self, addresses: Sequence[str], port: int) -> None:
        self.port = port
        self._sockets: dict[str, _SharedSocket] = {}
        self._opening: asyncio.Lock | None = None
        self._opened = False
        try:
            for address in addresses:
                family = socket.AF_INET6 if ":" in address else socket.AF_INET
                sock = socket.socket(family, socket.SOCK_DGRAM)
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RECEIVE_BUFFER)
                    sock.setblocking(False)
                    sock.bind((address, port))
                except OSError as exc:
                    sock.close()
                    raise OSError(exc.errno, f"ice.udp_port: cannot bind UDP {address} port {port}: {exc.strerror}") from None
                self._sockets[address] = _SharedSocket(sock)
        except OSError:
            self._close_sockets()
            raise

    async def _open(self) -> None:
        """Attach the sockets to the running loop (on first use: the constructor may run without one)."""
        if self._opened:
            return
        if self._opening is None:
            self._opening = asyncio.Lock()
        async with self._opening:
            if self._opened:
                return
            loop = asyncio.get_running_loop()
            for shared in self._sockets.values():
                # asyncio's selector loop reads one datagram per readiness event, i.e. per loop
                # iteration; libuv (uvloop) reads up to 32. With every connection on one socket,
                # one per iteration falls behind as soon as iterations slow down (each epoll wait
                # gives up the GIL, and codec threads hold it for up to the switch interval): under
                # CPU load the receive queue grew by ~300 kB/s until consent checks timed out and
                # every connection closed. So there we read the rest of a burst ourselves.
                if not isinstance(loop, asyncio.selector_events.BaseSelectorEventLoop):
                    shared.datagram_received = shared._dispatch  # type: ignore[method-assign]
                await loop.create_datagram_endpoint(lambda s=shared: s, sock=shared.sock)  # type: ignore[misc]
            self._opened = True

    async def host_candidates(self, connection: aioice.ice.Connection, component: int, addresses: Sequence[str]) -> list[Candidate]:
        """Host candidates of ``connection`` on the shared sockets (as aioice's own would be)."""
        if component != 1:
            raise HookError(f"the shared UDP port carries ICE component 1 only (rtcp-mux), not {component}")
        await self._open()
        protocols: list[aioice.ice.StunProtocol] = private(connection, "", "_protocols")
        if any(s.table.has_ufrag(connection.local_username) for s in self._sockets.values()):
            self._fresh_ufrag(connection)
        candidates = []
        for address in addresses:
            shared = self._sockets.get(address)
            if shared is None:
                continue  # not one of ice.host_addresses (cannot happen: they are what aioice asks for)
            leg = _LegProtocol(connection, shared)
            shared.table.add(connection.local_username, leg)
            leg.connection_made(_LegTransport(shared, leg))
            host, port = shared.sockname[0], shared.sockname[1]
            leg.local_candidate = Candidate(
                foundation=candidate_foundation("host", "udp", host),
                component=component,
                transport="udp",
                priority=candidate_priority(component, "host"),
                host=host,
                port=port,
                type="host",
            )
            protocols.append(leg)
            candidates.append(leg.local_candidate)
        return candidates

    def _fresh_ufrag(self, connection: aioice.ice.Connection) -> None:
        # aioice's ufrags are 4 characters: two connections of hundreds may draw the same.
        # Nothing has been sent yet (gathering precedes the local description, which aiortc
        # builds from the connection's ufrag afterwards), so this one takes a fresh, longer one.
        private(connection, "", "_local_username")
        while True:
            ufrag = "".join(secrets.choice(_UFRAG_ALPHABET) for _ in range(8))
            if not any(s.table.has_ufrag(ufrag) for s in self._sockets.values()):
                break
        connection._local_username = ufrag

    def sizes(self) -> dict[str, int]:
        """Entries of every table, summed: connections, learnt addresses, checks in flight."""
        total = {"connections": 0, "addresses": 0, "checks": 0}
        for shared in self._sockets.values():
            for key, value in shared.table.sizes().items():
                total[key] += value
        return total

    def dropped(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for shared in self._sockets.values():
            for reason, count in shared.table.dropped.items():
                total[reason] = total.get(reason, 0) + count
        return total

    def sockets(self) -> list[tuple[Any, ...]]:
        return [shared.sockname for shared in self._sockets.values()]

    def close(self) -> None:
        for shared in self._sockets.values():
            transport = getattr(shared, "transport", None)
            if transport is not None:
                transport.close()
        self._close_sockets()

    def _close_sockets(self) -> None:
        for shared in self._sockets.values():
            shared.sock.close()
        self._sockets.clear()
