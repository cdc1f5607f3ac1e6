"""The packets of a video stream since its last keyframe, to start a new leg at once.

A subscriber's first picture needs a keyframe. Asking the publisher for one costs a round
trip and a frame, and publishers get at most two requests a second (see
:mod:`.keyframe_throttle`), so a late joiner could wait half a second for its turn. When the
stream's last keyframe is recent, the new leg can instead be sent that keyframe and every
packet after it (a "GOP", group of pictures), decodable from its first packet: the receiver
shows a picture as soon as they arrive and then continues with the live packets.

Bounded on both axes: a keyframe older than ``max_age`` is not replayed (the burst would be
long, and the first picture stale), nor a GOP of more than ``max_packets`` packets (it stops
being collected until the next keyframe: aiortc's video jitter buffer holds 128 packets, a
longer burst would overflow it). A GOP with a gap in its sequence numbers (upstream loss not
yet repaired) is not replayed either: the new leg could not repair it from its own cache.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, Protocol, TypeVar

from .seqnum import SEQ_MASK


class GopCacheError(ValueError):
    """Invalid construction argument for a GopCache."""


class _HasSeq(Protocol):
    @property
    def seq(self) -> int: ...


P = TypeVar("P", bound=_HasSeq)


class GopCache(Generic[P]):
    """Packets since the last keyframe start of one stream; time passed in as ``now``."""

    __slots__ = ("_first_seq", "_keyframe_at", "_max_age", "_max_packets", "_packets", "replays")

    def __init__(self, *, max_age: float = 0.5, max_packets: int = 120) -> None:
        if max_age <= 0:
            raise GopCacheError(f"max_age must be > 0, got {max_age!r}")
        if not isinstance(max_packets, int) or max_packets < 1:
            raise GopCacheError(f"max_packets must be an int >= 1, got {max_packets!r}")
        self._max_age = max_age
        self._max_packets = max_packets
        self._packets: list[P] = []
        self._first_seq = 0
        #: None: nothing usable (no keyframe yet, or this GOP overflowed)
        self._keyframe_at: float | None = None
        self.replays = 0

    def wants(self, keyframe_start: bool, now: float) -> bool:
        """Whether :meth:`on_packet` would keep this packet: a keyframe start, or a packet of a
        GOP still young enough to be replayed (an older one is dropped here, so the packet path
        neither builds nor keeps packets nobody can be sent)."""
        if keyframe_start:
            return True
        at = self._keyframe_at
        if at is not None and now - at > self._max_age:
            self.clear()
            return False
        return at is not None

    def on_packet(self, packet: P, keyframe_start: bool, now: float) -> None:
        """A packet of the stream (in arrival order); ``keyframe_start``: it starts a keyframe."""
        if keyframe_start:
            self._packets = [packet]
            self._first_seq = packet.seq
            self._keyframe_at = now
            return
        if not self.wants(False, now):
            return
        if ((packet.seq - self._first_seq) & SEQ_MASK) >= SEQ_MASK // 2:
            return  # from before this keyframe (a late retransmission of the previous GOP)
        if len(self._packets) >= self._max_packets:
            self.clear()
            return
        self._packets.append(packet)

    def replay(self, now: float) -> Sequence[P] | None:
        """The packets from the last keyframe on, in sequence order; None when there is no
        usable GOP (none, too old, overflowed, or with a gap)."""
        at = self._keyframe_at
        if at is None or now - at > self._max_age:
            return None
        first = self._first_seq
        ordered = sorted(self._packets, key=lambda p: (p.seq - first) & SEQ_MASK)
        expected = first
        out: list[P] = []
        for packet in ordered:
            if packet.seq == (expected - 1) & SEQ_MASK:
                continue  # a duplicate (the original and its retransmission both arrived)
            if packet.seq != expected:
                return None
            out.append(packet)
            expected = (expected + 1) & SEQ_MASK
        self.replays += 1
        return out

    def clear(self) -> None:
        self._packets = []
        self._keyframe_at = None
