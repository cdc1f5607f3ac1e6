"""Receive-side measurement from RTP, without decoding video.

:class:`StreamProbe` is the pure part: it is fed one RTP packet at a time with the
arrival time and counts packets, bytes, sequence-number gaps (loss), frames (marker
bit), and end-to-end latency from the frame trailer (see loadtest.tracks).
:func:`install_probe` hooks it into an aiortc ``RTCRtpReceiver`` through
:func:`loadtest.aiortc_seams.tap_rtp` (aiortc's private API, used only in that module).
Without ``decode`` aiortc's own handling does not run at all: no jitter buffer, no NACK, no
decoding, which is what makes a subscriber light. With ``decode`` it runs too and
:func:`read_decoded` takes the decoded pictures, reads their visual marker and measures
latency from it.
"""

from __future__ import annotations

import asyncio
import collections
import time
from dataclasses import dataclass, field
from typing import Any

import av
from aiortc.codecs.vpx import VpxPayloadDescriptor
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcrtpreceiver import RTCRtpReceiver
from aiortc.rtp import RtpPacket

from loadtest.aiortc_seams import media_payload_types, rtp_timestamp_origin, tap_rtp
from loadtest.clip import read_marker
from loadtest.tracks import TRAILER, SendLog, parse_trailer

MAX_SAMPLES = 200_000  # per stream: bounds memory on long runs
MARKER_ARRIVALS_KEPT = 256


@dataclass(frozen=True)
class ProbeCounters:
    """Cumulative counters at one instant; differences give per-window figures."""

    at: float
    packets: int
    octets: int
    expected: int
    frames: int


@dataclass
class StreamProbe:
    """One received stream (one publisher's audio or video at one subscriber)."""

    subscriber: str
    publisher: str
    kind: str
    publisher_no: int | None = None  # expected in the trailer; None = not checked
    ready_at: float | None = None  # both ends ready: the clock for join-to-first-frame
    packets: int = 0
    octets: int = 0
    frames: int = 0
    frames_missing: int = 0  # gaps in the trailer's frame sequence numbers
    misrouted_frames: int = 0  # trailer names another publisher than expected
    first_packet_at: float | None = None
    first_frame_at: float | None = None
    latencies: collections.deque[tuple[float, float]] = field(
        default_factory=lambda: collections.deque(maxlen=MAX_SAMPLES)
    )
    marker_latencies: collections.deque[tuple[float, float]] = field(
        default_factory=lambda: collections.deque(maxlen=MAX_SAMPLES)
    )
    pictures_checked: int = 0
    pictures_bad: int = 0
    _ext_min: int | None = None
    _ext_max: int = 0
    _prev_tail: bytes = b""
    _last_frame_seq: int | None = None
    _marker_arrivals: collections.OrderedDict[int, float] = field(
        default_factory=collections.OrderedDict
    )

    @property
    def expected(self) -> int:
        return 0 if self._ext_min is None else self._ext_max - self._ext_min + 1

    @property
    def lost(self) -> int:
        return max(0, self.expected - self.packets)

    def counters(self, now: float) -> ProbeCounters:
        return ProbeCounters(now, self.packets, self.octets, self.expected, self.frames)

    def on_packet(self, now: float, seq: int, timestamp: int, marker: bool, payload: bytes) -> None:
        self.packets += 1
        self.octets += len(payload)
        if self.first_packet_at is None:
            self.first_packet_at = now
        self._extend(seq)
        if self.kind != "video":
            self._frame(now)
            return
        if not marker:
            self._prev_tail = payload[-TRAILER.size :]
            return
        self._frame(now)
        if len(self._marker_arrivals) >= MARKER_ARRIVALS_KEPT:
            self._marker_arrivals.popitem(last=False)
        self._marker_arrivals[timestamp] = now
        tail = payload[-TRAILER.size :]
        if len(payload) < TRAILER.size + 6:  # the trailer may straddle two packets
            try:
                _, data = VpxPayloadDescriptor.parse(payload)
            except ValueError:
                data = b""
            tail = (self._prev_tail + data)[-TRAILER.size :]
        self._prev_tail = b""
        self._trailer(now, tail)

    def on_decoded(self, now: float, rtp_timestamp: int | None, luma: Any, log: SendLog | None) -> None:
        """A decoded picture: check its marker and, with the publisher's log, measure latency."""
        index = read_marker(luma)
        self.pictures_checked += 1
        if index is None or log is None or index >= len(log.sent_at_by_index):
            self.pictures_bad += index is None
            return
        arrived = self._marker_arrivals.get(rtp_timestamp, now) if rtp_timestamp is not None else now
        sent = log.sent_at_by_index[index]
        if sent > 0 and arrived >= sent and len(self.marker_latencies) < MAX_SAMPLES:
            self.marker_latencies.append((arrived, arrived - sent))

    def _frame(self, now: float) -> None:
        self.frames += 1
        if self.first_frame_at is None:
            self.first_frame_at = now

    def _trailer(self, now: float, tail: bytes) -> None:
        parsed = parse_trailer(tail)
        if parsed is None:
            return
        publisher_no, frame_seq, sent = parsed
        if self.publisher_no is not None and publisher_no != self.publisher_no:
            self.misrouted_frames += 1
            return
        if self._last_frame_seq is not None and frame_seq > self._last_frame_seq + 1:
            self.frames_missing += frame_seq - self._last_frame_seq - 1
        if self._last_frame_seq is None or frame_seq > self._last_frame_seq:
            self._last_frame_seq = frame_seq
        self.latencies.append((now, now - sent))

    def _extend(self, seq: int) -> None:
        if self._ext_min is None:
            self._ext_min = self._ext_max = seq
            return
        delta = (seq - self._ext_max) & 0xFFFF
        if delta < 0x8000:
            self._ext_max += delta
        else:
            ext = self._ext_max - (0x10000 - delta)
            self._ext_min = min(self._ext_min, ext)


def install_probe(receiver: RTCRtpReceiver, probe: StreamProbe, decode: bool) -> None:
    """Route every media RTP packet of ``receiver`` to ``probe`` (RTX packets are skipped)."""
    media_types: set[int] | None = None

    def on_packet(packet: RtpPacket) -> None:
        nonlocal media_types
        if media_types is None:  # negotiated by the time packets flow
            media_types = media_payload_types(receiver)
        if packet.payload_type in media_types:
            probe.on_packet(
                time.monotonic(), packet.sequence_number, packet.timestamp, bool(packet.marker), packet.payload
            )

    tap_rtp(receiver, on_packet, pass_on=decode)


async def read_decoded(
    receiver: RTCRtpReceiver, probe: StreamProbe, log: SendLog | None, deadline: float
) -> None:
    """Decode loop for a sampled video receiver, until ``deadline`` (monotonic) or track end."""
    while receiver.track is None and time.monotonic() < deadline:  # noqa: ASYNC110 - aiortc has no event
        await asyncio.sleep(0.05)  # aiortc creates the track when the remote description is applied
    while time.monotonic() < deadline:
        try:
            frame = await asyncio.wait_for(receiver.track.recv(), timeout=max(0.1, deadline - time.monotonic()))
        except (TimeoutError, MediaStreamError):
            return
        if not isinstance(frame, av.VideoFrame):
            continue
        origin = rtp_timestamp_origin(receiver)
        rtp_ts = None if origin is None or frame.pts is None else (frame.pts + origin) & 0xFFFFFFFF
        luma = frame.to_ndarray(format="yuv420p")[: frame.height]
        probe.on_decoded(time.monotonic(), rtp_ts, luma, log)
