"""Which ICE connection a datagram on the shared UDP port belongs to (sans-I/O).

With ``ice.udp_port`` every ICE connection of a worker shares one socket (per host address),
as LiveKit's ``udp_port`` (pion's UDPMux) and mediasoup's WebRtcServer do. A datagram is
routed by its remote address, one dict lookup; an address is learnt from a STUN binding
request whose USERNAME (``<our ufrag>:<their ufrag>``, RFC 8445 §7.2.2) names a connection
and whose MESSAGE-INTEGRITY holds with that connection's password (checked by the caller's
``verify``: a peer that does not know the password cannot claim an address). A STUN response
from an address not learnt yet (our check reached the peer before its check reached us) goes
to the connection that sent the request with that transaction id, and so does a late one
(a retransmitted check answered twice, an answer after the check timed out) for the last
checks of each connection: that connection ignores it, as aioice does on its own socket,
instead of it being counted as a drop. Anything else from an unknown address is dropped and
counted. A binding request always goes by its ufrag, so an address that moves to another
connection (a NAT mapping reused after a reconnect) follows.

The targets are opaque (the shell uses aioice's per-connection protocols); ``remove`` drops
every entry of one, so a closed connection leaves nothing behind.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")

Address = tuple[Any, ...]  # what the socket gives: (host, port) or IPv6's 4-tuple

_MAGIC_COOKIE = b"\x21\x12\xa4\x42"
_BINDING_REQUEST = b"\x00\x01"
_USERNAME = 0x0006
_HEADER = 20
_FINISHED_KEPT = 16  # finished checks remembered per connection, for their late answers

#: Reasons a datagram is dropped (the keys of :attr:`DemuxTable.dropped`).
DROP_REASONS = ("unknown_address", "unknown_ufrag", "bad_integrity", "malformed")


def binding_request_ufrag(data: bytes) -> str | None:
    """The local ufrag (before the colon) of a STUN binding request's USERNAME; None if absent.

    ``data`` is known to be a STUN binding request (see :meth:`DemuxTable.route`).
    """
    end = min(len(data), _HEADER + int.from_bytes(data[2:4], "big"))
    pos = _HEADER
    while pos + 4 <= end:
        kind = int.from_bytes(data[pos : pos + 2], "big")
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if kind == _USERNAME:
            if pos + 4 + length > end:
                return None
            username = data[pos + 4 : pos + 4 + length].decode("utf8", errors="replace")
            local, colon, _ = username.partition(":")
            return local if colon and local else None
        pos += 4 + length + (-length % 4)
    return None


class DemuxTable(Generic[T]):
    """Ufrag -> connection and remote address -> connection for one shared socket."""

    def __init__(self) -> None:
        #: the hot path's table: the shell reads it directly (one dict lookup per datagram)
        self.by_address: dict[Address, T] = {}
        self._by_ufrag: dict[str, T] = {}
        self._ufrag_of: dict[T, str] = {}
        self._addresses_of: dict[T, set[Address]] = {}
        self._expected: dict[bytes, T] = {}  # transaction id of a check in flight -> its sender
        self._txids_of: dict[T, set[bytes]] = {}
        self._finished: dict[bytes, T] = {}  # transaction id of a recent finished check -> its sender
        self._finished_of: dict[T, deque[bytes]] = {}
        self.dropped: dict[str, int] = dict.fromkeys(DROP_REASONS, 0)
        self.learnt = 0

    # ---------------------------------------------------------------- registration

    def add(self, ufrag: str, target: T) -> None:
        """``target`` answers binding requests for ``ufrag``; ValueError if the ufrag is taken."""
        if ufrag in self._by_ufrag:
            raise ValueError(f"ICE ufrag {ufrag!r} is already in use on the shared UDP port")
        if target in self._ufrag_of:
            raise ValueError("this connection is already on the shared UDP port")
        self._by_ufrag[ufrag] = target
        self._ufrag_of[target] = ufrag
        self._addresses_of[target] = set()
        self._txids_of[target] = set()
        self._finished_of[target] = deque()

    def has_ufrag(self, ufrag: str) -> bool:
        return ufrag in self._by_ufrag

    def remove(self, target: T) -> None:
        """Forget everything about ``target`` (its connection closed); no-op if unknown."""
        ufrag = self._ufrag_of.pop(target, None)
        if ufrag is None:
            return
        del self._by_ufrag[ufrag]
        for address in self._addresses_of.pop(target):
            del self.by_address[address]
        for txid in self._txids_of.pop(target):
            del self._expected[txid]
        for txid in self._finished_of.pop(target):
            self._finished.pop(txid, None)  # (a transaction id drawn twice must not break this)

    def expect_response(self, txid: bytes, target: T) -> None:
        """``target`` sent a STUN request with this transaction id (until :meth:`response_done`)."""
        txids = self._txids_of.get(target)
        if txids is not None:
            txids.add(txid)
            self._expected[txid] = target

    def response_done(self, txid: bytes) -> None:
        target = self._expected.pop(txid, None)
        if target is None:
            return
        self._txids_of[target].discard(txid)
        finished = self._finished_of[target]
        if len(finished) == _FINISHED_KEPT:
            self._finished.pop(finished.popleft(), None)
        finished.append(txid)
        self._finished[txid] = target

    # ---------------------------------------------------------------- routing

    def route(self, data: bytes, address: Address, verify: Callable[[T, bytes], bool]) -> T | None:
        """Where a datagram goes that the hot path did not take (STUN, or an unknown address).

        ``verify(target, data)``: the binding request's MESSAGE-INTEGRITY holds with the
        target's password (called only when the request would move or learn an address).
        None: dropped, and counted in :attr:`dropped`.
        """
        if not data:
            self.dropped["malformed"] += 1
            return None
        known = self.by_address.get(address)
        if len(data) < _HEADER or data[0] > 3 or data[4:8] != _MAGIC_COOKIE:
            if known is None:
                self.dropped["unknown_address"] += 1
            return known  # not STUN: a known address's connection reads it as before
        if data[0:2] != _BINDING_REQUEST:
            if known is not None:
                return known
            txid = data[8:20]
            target = self._expected.get(txid)
            if target is None:
                target = self._finished.get(txid)
                if target is None:
                    self.dropped["unknown_address"] += 1
            return target
        ufrag = binding_request_ufrag(data)
        if ufrag is None:
            self.dropped["malformed"] += 1
            return None
        target = self._by_ufrag.get(ufrag)
        if target is None:
            self.dropped["unknown_ufrag"] += 1
            return None
        if known is target:
            return target
        if not verify(target, data):
            self.dropped["bad_integrity"] += 1
            return None
        self._learn(address, target, previous=known)
        return target

    def _learn(self, address: Address, target: T, previous: T | None) -> None:
        if previous is not None:
            self._addresses_of[previous].discard(address)
        self.by_address[address] = target
        self._addresses_of[target].add(address)
        self.learnt += 1

    # ---------------------------------------------------------------- figures

    def sizes(self) -> dict[str, int]:
        """Entries held: connections (ufrags), learnt addresses, checks in flight."""
        return {"connections": len(self._by_ufrag), "addresses": len(self.by_address), "checks": len(self._expected)}
