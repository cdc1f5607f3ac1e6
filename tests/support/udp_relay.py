"""A userspace UDP relay on loopback that impairs a link: loss, delay, jitter, rate.

The kernel here has no traffic-control qdiscs (no netem), so tests put this relay between
one client and one server endpoint (ICE host candidates on 127.0.0.1; see
:func:`rewrite_candidates` for pointing the two ends at it).

Two layers, as the house rules want:

* :class:`LinkModel` (sans-I/O): given a datagram's size and arrival ``now``, when it leaves
  the link (or None: dropped). Loss is independent (seeded); each datagram's delay is
  ``delay`` +- ``jitter`` drawn independently, so close datagrams overtake each other (the
  reordering netem's ``delay X Y`` gives); ``rate_bps`` serialises datagrams through a
  drop-tail queue of ``queue_bytes``. :meth:`LinkModel.set_profile` changes the link while it
  runs (a bandwidth drop, a loss burst).
* :class:`UdpRelay` (asyncio shell): two sockets on 127.0.0.1, one facing the client, one the
  server; each direction has its own model. STUN and DTLS datagrams pass unimpaired unless
  the profile says otherwise (a test wants the call set up, then the media impaired).
  :class:`RtpTally` counts, per RTP stream, originals, repeats (retransmissions) and what the
  link dropped, from the RTP header, which SRTP leaves in the clear.

Bounded: at most ``MAX_IN_FLIGHT`` datagrams wait in timers (beyond that they are dropped and
counted), and :meth:`UdpRelay.close` cancels every timer.
"""

from __future__ import annotations

import asyncio
import random
import re
from dataclasses import dataclass, field

#: Datagrams held in timers at once, per direction (beyond: dropped as overflow).
MAX_IN_FLIGHT = 10_000
LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class LinkProfile:
    loss: float = 0.0
    delay: float = 0.0
    jitter: float = 0.0
    #: serialisation rate in bits/s (None: unlimited)
    rate_bps: int | None = None
    queue_bytes: int = 64_000
    #: impair STUN and DTLS too (default: only RTP/RTCP)
    impair_handshake: bool = False

    def __post_init__(self) -> None:
        if not 0.0 <= self.loss <= 1.0:
            raise ValueError(f"loss must be in [0, 1], got {self.loss!r}")
        if self.delay < 0 or self.jitter < 0 or self.jitter > self.delay:
            raise ValueError(f"need 0 <= jitter <= delay, got delay {self.delay!r}, jitter {self.jitter!r}")
        if self.rate_bps is not None and self.rate_bps <= 0:
            raise ValueError(f"rate_bps must be > 0, got {self.rate_bps!r}")
        if self.queue_bytes <= 0:
            raise ValueError(f"queue_bytes must be > 0, got {self.queue_bytes!r}")


@dataclass
class LinkCounts:
    datagrams: int = 0
    delivered: int = 0
    lost: int = 0
    queue_drops: int = 0


class LinkModel:
    """One direction of an impaired link; time passed in as ``now`` (seconds)."""

    def __init__(self, profile: LinkProfile, seed: int = 0) -> None:
        self.profile = profile
        self.counts = LinkCounts()
        self._rng = random.Random(seed)
        self._busy_until = 0.0

    def set_profile(self, profile: LinkProfile) -> None:
        self.profile = profile

    def on_datagram(self, size: int, now: float) -> float | None:
        """When a datagram of ``size`` bytes arriving at ``now`` leaves the link; None: dropped."""
        p = self.profile
        self.counts.datagrams += 1
        if p.loss and self._rng.random() < p.loss:
            self.counts.lost += 1
            return None
        leave = now
        if p.rate_bps is not None:
            start = max(now, self._busy_until)
            if (start - now) * p.rate_bps / 8 + size > p.queue_bytes:
                self.counts.queue_drops += 1
                return None
            self._busy_until = leave = start + size * 8 / p.rate_bps
        if p.delay:
            leave += p.delay + (self._rng.uniform(-p.jitter, p.jitter) if p.jitter else 0.0)
        self.counts.delivered += 1
        return leave

    def passes_unimpaired(self, first_byte: int) -> bool:
        """STUN (0-3) and DTLS (20-63) skip the model unless the profile impairs handshakes."""
        return not self.profile.impair_handshake and not 127 < first_byte < 192


def is_rtp(data: bytes) -> bool:
    """RTP, not RTCP (RFC 5761: RTCP packet types 192-223 in the second byte)."""
    return len(data) >= 12 and 127 < data[0] < 192 and not 192 <= data[1] <= 223


@dataclass
class StreamTally:
    originals: int = 0
    repeats: int = 0
    #: datagrams of this stream the link dropped (originals and repeats)
    dropped: int = 0
    #: repeats of a sequence number whose earlier copy the link had delivered
    repeats_of_delivered: int = 0
    _delivered: set[int] = field(default_factory=set)
    _seen: set[int] = field(default_factory=set)


class RtpTally:
    """Per SSRC: originals, repeats (retransmissions with the same sequence number), drops."""

    def __init__(self) -> None:
        self.streams: dict[int, StreamTally] = {}

    def on_rtp(self, data: bytes, delivered: bool) -> None:
        ssrc = int.from_bytes(data[8:12], "big")
        seq = int.from_bytes(data[2:4], "big")
        tally = self.streams.get(ssrc)
        if tally is None:
            tally = self.streams[ssrc] = StreamTally()
        if seq in tally._seen:
            tally.repeats += 1
            if seq in tally._delivered:
                tally.repeats_of_delivered += 1
        else:
            tally.originals += 1
            tally._seen.add(seq)
            if len(tally._seen) > 60_000:  # a wrap of the 16-bit space: start over
                tally._seen = {seq}
                tally._delivered.clear()
        if delivered:
            tally._delivered.add(seq)
        else:
            tally.dropped += 1

    def total(self) -> StreamTally:
        out = StreamTally()
        for t in self.streams.values():
            out.originals += t.originals
            out.repeats += t.repeats
            out.dropped += t.dropped
            out.repeats_of_delivered += t.repeats_of_delivered
        return out


class _Side(asyncio.DatagramProtocol):
    def __init__(self, relay: UdpRelay, from_client: bool) -> None:
        self.relay = relay
        self.from_client = from_client
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.relay._received(data, (str(addr[0]), int(addr[1])), self.from_client)


class UdpRelay:
    """Relays one client <-> server UDP flow through :class:`LinkModel`s, on loopback only."""

    def __init__(self, down: LinkProfile, up: LinkProfile | None = None, seed: int = 0) -> None:
        #: server -> client, and client -> server
        self.down = LinkModel(down, seed)
        self.up = LinkModel(up or LinkProfile(), seed + 1)
        self.down_rtp = RtpTally()
        self.up_rtp = RtpTally()
        self.server_addr: tuple[str, int] | None = None
        self.client_addr: tuple[str, int] | None = None
        self.overflow = 0
        self._client_side: _Side | None = None
        self._server_side: _Side | None = None
        self._timers: set[asyncio.TimerHandle] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        loop = self._loop = asyncio.get_running_loop()
        for from_client in (True, False):
            transport, side = await loop.create_datagram_endpoint(
                lambda from_client=from_client: _Side(self, from_client),  # type: ignore[misc]
                local_addr=(LOOPBACK, 0),
            )
            side.transport = transport
            if from_client:
                self._client_side = side
            else:
                self._server_side = side

    @property
    def client_facing(self) -> tuple[str, int]:
        """Where the client sends (it takes this for the server's address)."""
        assert self._client_side is not None and self._client_side.transport is not None
        return self._client_side.transport.get_extra_info("sockname")[:2]  # type: ignore[no-any-return]

    @property
    def server_facing(self) -> tuple[str, int]:
        """Where the server sends (it takes this for the client's address)."""
        assert self._server_side is not None and self._server_side.transport is not None
        return self._server_side.transport.get_extra_info("sockname")[:2]  # type: ignore[no-any-return]

    def _received(self, data: bytes, addr: tuple[str, int], from_client: bool) -> None:
        if addr[0] != LOOPBACK:
            return  # loopback only
        if from_client:
            self.client_addr = addr
            target, out, model, tally = self.server_addr, self._server_side, self.up, self.up_rtp
        else:
            target, out, model, tally = self.client_addr, self._client_side, self.down, self.down_rtp
        if target is None or out is None or out.transport is None or not data:
            return
        loop = self._loop
        assert loop is not None
        if model.passes_unimpaired(data[0]):
            out.transport.sendto(data, target)
            return
        now = loop.time()
        leave = model.on_datagram(len(data), now)
        if is_rtp(data):
            tally.on_rtp(data, leave is not None)
        if leave is None:
            return
        if leave <= now:
            out.transport.sendto(data, target)
            return
        if len(self._timers) >= MAX_IN_FLIGHT:
            self.overflow += 1
            return
        handle: asyncio.TimerHandle

        def deliver() -> None:
            self._timers.discard(handle)
            if out.transport is not None and not out.transport.is_closing():
                out.transport.sendto(data, target)

        handle = loop.call_at(leave, deliver)
        self._timers.add(handle)

    def rewrite_sdp(self, sdp: str, from_server: bool) -> str:
        """Put the relay between the two ends: the server's candidates in an SDP it sent
        become the client-facing socket (and the relay learns where the server is), the
        client's become the server-facing socket. For :attr:`TestPeer.sdp_filter`."""
        if from_server:
            sdp, self.server_addr = rewrite_candidates(sdp, self.client_facing)
        else:
            sdp, self.client_addr = rewrite_candidates(sdp, self.server_facing)
        return sdp

    def close(self) -> None:
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()
        for side in (self._client_side, self._server_side):
            if side is not None and side.transport is not None:
                side.transport.close()


_CANDIDATE = re.compile(r"^(a=candidate:\S+ \d+ udp \d+ )(\S+) (\d+)( typ host.*)$", re.IGNORECASE | re.MULTILINE)


def rewrite_candidates(sdp: str, address: tuple[str, int]) -> tuple[str, tuple[str, int]]:
    """Point every UDP host candidate of ``sdp`` at ``address``; returns the new SDP and the
    first original address. Refuses anything but loopback (the relay serves loopback only)."""
    found: list[tuple[str, int]] = []

    def replace(match: re.Match[str]) -> str:
        host, port = match.group(2), int(match.group(3))
        if host != LOOPBACK:
            raise ValueError(f"candidate {host}:{port} is not on loopback")
        found.append((host, port))
        return f"{match.group(1)}{address[0]} {address[1]}{match.group(4)}"

    out = _CANDIDATE.sub(replace, sdp)
    if not found:
        raise ValueError("no UDP host candidate in the SDP")
    return out, found[0]
