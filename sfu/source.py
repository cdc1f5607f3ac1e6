"""Media sources and the legs they feed: the only view a consumer has of the rest of the plane.

A producer's own stream (passthrough) is one source; every rendition of it (a scaled and/or
processed re-encode) is another. All sources of one producer share the producer's RTP
timestamp space (renditions keep the source frames' timestamps), so a consumer that switches
between them needs only the sequence-number shift of :class:`sfu.packet.LegRewriter` and lip
sync survives.

Which source a leg gets is decided by its producer's
:class:`~sfu.source_selector.SourceSelector`; the leg (:class:`Leg`) only carries the
decision out. A consumer therefore imports this module, never the producer or the renditions.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from sfu.ids import ConsumerId, ProducerId
from sfu.kinds import MediaKind
from sfu.packet.sender_report import SenderReportClock

_source_ids = itertools.count(1)

#: The source id of every producer's passthrough; renditions get ids from :func:`next_source_id`.
PASSTHROUGH_SOURCE_ID = 0


def next_source_id() -> int:
    return next(_source_ids)


class ForwardedPacket:
    """One RTP packet on its way from a source to its consumers (parsed once, shared)."""

    __slots__ = ("audio_level", "frame_start", "keyframe", "marker", "payload", "seq", "ts")

    def __init__(
        self,
        payload: bytes,
        marker: int,
        seq: int,
        ts: int,
        keyframe: bool,
        frame_start: bool,
        audio_level: tuple[bool, int] | None,
    ) -> None:
        self.payload = payload
        self.marker = marker
        self.seq = seq
        self.ts = ts
        self.keyframe = keyframe
        self.frame_start = frame_start
        self.audio_level = audio_level


class PacketSink(Protocol):
    """What a source hands its packets to (a consumer)."""

    def on_packet(self, source: MediaSource, pkt: ForwardedPacket, now: float) -> None: ...


class MediaSource(Protocol):
    """Something consumers attach to and receive :class:`ForwardedPacket` from."""

    source_id: int
    #: the sinks fed by this source right now (its fan-out set)
    consumers: set[PacketSink]

    def request_keyframe(self, now: float) -> None:
        """A consumer needs a keyframe from this source (throttled by the source)."""
        ...


@runtime_checkable
class KeyframeReplay(Protocol):
    """A source that keeps its packets since its last keyframe (the producer's passthrough,
    see :mod:`sfu.packet.gop_cache`): a leg that connects starts from them at once."""

    def replay_from_keyframe(self, now: float) -> Sequence[ForwardedPacket] | None:
        """The packets from the last keyframe on, in order; None when none is recent."""
        ...


class Leg(Protocol):
    """One subscriber's leg of a producer, as the producer's source selector drives it."""

    @property
    def id(self) -> ConsumerId: ...

    def switch_to(self, source: MediaSource | None, now: float) -> None:
        """Be fed by ``source`` from now on (None: by nothing, the leg is paused)."""
        ...


class ForwardedTrack(Protocol):
    """What a leg needs to know of the track it carries."""

    @property
    def id(self) -> ProducerId: ...

    @property
    def kind(self) -> MediaKind: ...

    @property
    def clock_rate(self) -> int: ...

    @property
    def sr_clock(self) -> SenderReportClock | None:
        """The publisher's clock mapping (for the leg's sender reports), once known."""
        ...
