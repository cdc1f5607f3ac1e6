"""Publisher tracks that hand pre-encoded packets to aiortc (no encoding at run time).

aiortc's RTCRtpSender packs an ``av.Packet`` instead of encoding it (docs NOTES.md), so
one core can drive many publishers. Each video frame ends with a 20-byte trailer
(:data:`TRAILER`): magic, publisher number, frame sequence number and the send time
(``time.monotonic_ns``, the same clock every peer of the run shares since they all live
in this process). VP8 decoders ignore bytes after the last partition, and a forwarding
server leaves the payload untouched, so a subscriber reads the send time back from the
frame's last RTP packet. The clip index of every frame sent is also kept in a
:class:`SendLog` so that a decoded frame's visual marker gives its send time when the
server re-encodes.
"""

from __future__ import annotations

import asyncio
import fractions
import struct
import time
from dataclasses import dataclass, field

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from loadtest.clip import AudioClip, VideoClip

TRAILER = struct.Struct(">4sIIQ")
TRAILER_MAGIC = b"LTv1"
VIDEO_TIME_BASE = fractions.Fraction(1, 90000)
AUDIO_TIME_BASE = fractions.Fraction(1, 48000)
KEYFRAME_RESTART_MIN_S = 0.3  # several PLIs in a burst restart the loop once


@dataclass
class SendLog:
    """What one publisher sent: counters and the last send time of each clip index."""

    publisher_no: int
    clip_frames: int
    frames_sent: int = 0
    audio_packets_sent: int = 0
    late_ticks: int = 0
    keyframe_requests: int = 0
    keyframes_sent: int = 0
    sent_at_by_index: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sent_at_by_index = [0.0] * self.clip_frames


def parse_trailer(tail: bytes) -> tuple[int, int, float] | None:
    """(publisher_no, frame_seq, send_time_s) from the last bytes of a frame, if present."""
    if len(tail) < TRAILER.size:
        return None
    magic, publisher_no, frame_seq, sent_ns = TRAILER.unpack_from(tail, len(tail) - TRAILER.size)
    if magic != TRAILER_MAGIC:
        return None
    return publisher_no, frame_seq, sent_ns / 1e9


class _Pacer:
    """Wall-clock pacing that never bursts to catch up: a late tick is counted and skipped."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self.start: float | None = None
        self.next_at = 0.0

    async def wait(self) -> bool:
        now = time.monotonic()
        if self.start is None:
            self.start = self.next_at = now
        delay = self.next_at - now
        late = delay < -self.interval_s
        if delay > 0:
            await asyncio.sleep(delay)
        elif late:
            self.next_at = now
        self.next_at += self.interval_s
        return late


class PacketVideoTrack(MediaStreamTrack):
    kind = "video"

    def __init__(self, clip: VideoClip, log: SendLog) -> None:
        super().__init__()
        self.clip = clip
        self.log = log
        self._pacer = _Pacer(1.0 / clip.fps)
        self._index = 0
        self._seq = 0
        self._last_restart = 0.0

    def request_keyframe(self) -> None:
        """Hooked in place of RTCRtpSender._send_keyframe: restart the loop at its keyframe."""
        self.log.keyframe_requests += 1
        now = time.monotonic()
        if now - self._last_restart >= KEYFRAME_RESTART_MIN_S:
            self._last_restart = now
            self._index = 0

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        if await self._pacer.wait():
            self.log.late_ticks += 1
        index = self._index
        self._index = (index + 1) % len(self.clip.frames)
        now_ns = time.monotonic_ns()
        trailer = TRAILER.pack(TRAILER_MAGIC, self.log.publisher_no, self._seq, now_ns)
        packet = av.Packet(self.clip.frames[index] + trailer)
        start = self._pacer.start or 0.0
        packet.pts = int((now_ns / 1e9 - start) * 90000)
        packet.time_base = VIDEO_TIME_BASE
        self._seq += 1
        self.log.frames_sent += 1
        self.log.keyframes_sent += index == 0
        self.log.sent_at_by_index[index] = now_ns / 1e9
        return packet


class PacketAudioTrack(MediaStreamTrack):
    kind = "audio"

    def __init__(self, clip: AudioClip, log: SendLog) -> None:
        super().__init__()
        self.clip = clip
        self.log = log
        self._pacer = _Pacer(clip.ptime_s)
        self._seq = 0

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        await self._pacer.wait()
        packet = av.Packet(self.clip.packets[self._seq % len(self.clip.packets)])
        packet.pts = self._seq * 960
        packet.time_base = AUDIO_TIME_BASE
        self._seq += 1
        self.log.audio_packets_sent += 1
        return packet
