"""Media sources: what a consumer (one subscriber's leg) can be fed from.

A producer's own stream (passthrough) is one source; every rendition of it (a scaled
and/or processed re-encode) is another. All sources of one producer share the
producer's RTP timestamp space (renditions keep the source frames' timestamps), so a
consumer that switches between them needs only the sequence-number shift of
:class:`sfu.packet.LegRewriter` and lip sync survives.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from sfu.consumer import Consumer

_source_ids = itertools.count(1)


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


class MediaSource(Protocol):
    """Something consumers attach to and receive :class:`ForwardedPacket` from."""

    source_id: int
    consumers: set[Consumer]

    def request_keyframe(self, now: float) -> None:
        """A consumer needs a keyframe from this source (throttled by the source)."""
        ...
