"""Producer: one track a participant publishes, forwarded packet by packet.

The receive hook hands every RTP packet here as it arrives (no jitter buffer, no
decoding), with its arrival time ``now``. Per packet we do the least possible: loss
tracking for upstream NACKs, keyframe detection (video), sender-report clock, then
fan-out to the consumers attached to the passthrough, to audio taps, and to the
rendition pipeline when one runs. Timer-driven work (throttled PLIs, NACK retries,
stall detection, stopping idle renditions) happens in :meth:`tick`, called by the
room's ticker.

The producer owns the choice of source for each of its legs (:attr:`Producer.sources`,
a :class:`~sfu.source_selector.SourceSelector`) and is the only writer of its source
size: learnt from a VP8 keyframe's header here, or from the rendition pipeline's decoded
pictures (reported by callback), with the ``now`` of the packet that carried it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RtcpSrPacket

from sfu.aiortc_hooks import ReceiverTap
from sfu.codec_info import vp8_keyframe_size
from sfu.config import SfuConfig
from sfu.events import ProducerDescription
from sfu.ids import ParticipantId, ProducerId
from sfu.kinds import MediaKind, TrackSource
from sfu.latency_probe import LatencyProbe
from sfu.packet.gop_cache import GopCache
from sfu.packet.keyframe import frame_start_checker, keyframe_checker
from sfu.packet.keyframe_throttle import KeyframeRequestThrottle
from sfu.packet.nack_tracker import NackTracker
from sfu.packet.renditions import Size
from sfu.packet.rtp_reader import ReceivedRtp
from sfu.packet.sender_report import SenderReportClock, ntp_from_unix
from sfu.packet.stall_detector import VideoStallDetector
from sfu.packet.upstream_request import HeightRequest, UpstreamRequest
from sfu.source import PASSTHROUGH_SOURCE_ID, ForwardedPacket, PacketSink
from sfu.source_selector import SourceSelector
from sfu.stats import SfuCounters
from sfu.taps import AudioTap
from sfu.transform import FrameTransform

logger = logging.getLogger(__name__)


class Producer:
    """A published track. It is also the passthrough :class:`~sfu.source.MediaSource`."""

    def __init__(
        self,
        *,
        producer_id: ProducerId,
        participant_id: ParticipantId,
        kind: MediaKind,
        source: TrackSource,
        config: SfuConfig,
        counters: SfuCounters,
        on_stall_change: Callable[[Producer, bool], None],
        latency_probe: LatencyProbe | None = None,
    ) -> None:
        self.id = producer_id
        self.participant_id = participant_id
        self.kind: MediaKind = kind
        self.source: TrackSource = source
        self.source_id = PASSTHROUGH_SOURCE_ID
        self.muted = False
        self.closed = False
        #: the source size: written here only (VP8 keyframe headers, decoded pictures)
        self.width: int | None = None
        self.height: int | None = None
        self.codec: RTCRtpCodecParameters | None = None
        #: consumers fed by the passthrough right now (the fan-out set of this source)
        self.consumers: set[PacketSink] = set()
        self.taps: set[AudioTap] = set()
        self.media_ssrc: int | None = None
        self.packets = 0
        self.bytes = 0
        self.keyframes = 0
        self._config = config
        self._counters = counters
        self._on_stall_change = on_stall_change
        self._tap: ReceiverTap | None = None
        self._is_keyframe: Callable[[bytes], bool] = _always
        self._is_frame_start: Callable[[bytes], bool] = _always
        self._codec_name = ""
        self._nacks = NackTracker() if kind == "video" else None
        #: the packets since the last keyframe, for legs that connect (sfu/packet/gop_cache.py)
        self._gop: GopCache[ForwardedPacket] | None = GopCache() if kind == "video" else None
        self._keyframe_throttle = KeyframeRequestThrottle(config.keyframe_request_interval_s)
        self._sr_clock: SenderReportClock | None = None
        self._stall = VideoStallDetector(config.camera_stall_s) if kind == "video" and source == "camera" else None
        self.stalled = False
        self._pli_wanted = False
        #: wakes us when a throttled keyframe request may go (the room's tick is too coarse)
        self._keyframe_timer: asyncio.TimerHandle | None = None
        self._probe = latency_probe
        #: which source each leg of this producer gets (every leg is attached here)
        #: what the publisher was asked to send at most (issue 15: ``resolution_requested``)
        self.upstream = UpstreamRequest()
        self.sources = SourceSelector(
            passthrough=self,
            video=kind == "video",
            name=producer_id,
            config=config.renditions,
            counters=counters,
            request_keyframe=self.request_keyframe,
            on_decoded_size=self._set_source_size,
        )

    # ------------------------------------------------------------ wiring

    def attach_receiver(self, tap: ReceiverTap) -> None:
        self._tap = tap

    def set_codec(self, codec: RTCRtpCodecParameters) -> None:
        """The negotiated codec: keyframe parsers ready before the first packet."""
        self.codec = codec
        self._codec_name = codec.name.lower()
        if self.kind == "video":
            self._is_keyframe = keyframe_checker(self._codec_name)
            self._is_frame_start = frame_start_checker(self._codec_name)
        self.sources.set_codec(codec)

    def describe(self) -> ProducerDescription:
        return ProducerDescription(
            producer_id=self.id,
            participant_id=self.participant_id,
            kind=self.kind,
            source=self.source,
            muted=self.muted,
            width=self.width,
            height=self.height,
        )

    @property
    def clock_rate(self) -> int:
        if self.codec is not None:
            return int(self.codec.clockRate)
        return 48000 if self.kind == "audio" else 90000

    @property
    def sr_clock(self) -> SenderReportClock | None:
        return self._sr_clock

    def set_muted(self, muted: bool) -> None:
        self.muted = muted
        if self._stall is not None:
            self._stall.set_muted(muted)

    @property
    def transform(self) -> FrameTransform | None:
        """The frame transform applied for every subscriber (None: none)."""
        return self.sources.transform

    def set_transform(self, transform: FrameTransform | None) -> None:
        """Apply a frame transform (e.g. a background effect) for every subscriber.

        An entry point of the control plane: the clock is read here, once."""
        self.sources.set_transform(transform, time.monotonic())

    # ------------------------------------------------------------ packet path

    def on_rtp(self, packet: ReceivedRtp, now: float) -> None:
        """A packet from the publisher; ``now`` is its arrival (``time.monotonic()``)."""
        if self.closed:
            return
        if self.codec is None:
            self._learn_codec(packet.payload_type)
        if self.media_ssrc is None:
            self.media_ssrc = packet.ssrc
            self._sr_clock = SenderReportClock(self.clock_rate)
        payload = packet.payload
        self.packets += 1
        self.bytes += len(payload)
        self._counters.rtp_packets_received += 1
        sr_clock = self._sr_clock
        if sr_clock is not None and not sr_clock.has_sender_report:
            # The fallback reference, until the publisher's first Sender Report (which
            # then always wins in rtp_at): no clock reading per packet after that.
            sr_clock.on_packet(packet.timestamp, ntp_from_unix(time.time()))

        keyframe = False
        frame_start = True
        nacks = self._nacks
        if nacks is not None:
            if nacks.on_packet(packet.sequence_number, now):
                self._send_nacks(now)
            if payload:
                frame_start = self._is_frame_start(payload)
                if frame_start:
                    keyframe = self._is_keyframe(payload)
                    if keyframe:
                        self._on_keyframe(payload, now)
            if packet.marker and self._stall is not None:
                self._stall.on_frame(now)

        for tap in self.taps:
            tap.on_packet(payload, packet.timestamp, packet.sequence_number, now)

        pipeline = self.sources.pipeline
        if pipeline is not None:
            pipeline.feed(packet, now)

        gop = self._gop
        collect = gop is not None and gop.wants(keyframe, now)
        if self.consumers or collect:
            fwd = ForwardedPacket(
                payload,
                packet.marker,
                packet.sequence_number,
                packet.timestamp,
                keyframe,
                frame_start,
                packet.audio_level,
            )
            if self.consumers:
                probe = self._probe
                timed = probe is not None and probe.sample()
                for consumer in tuple(self.consumers):
                    consumer.on_packet(self, fwd, now)
                if timed and probe is not None:
                    probe.record(time.monotonic() - now)
            if collect and gop is not None:  # after the fan-out: a leg starting on this packet replays up to it
                gop.on_packet(fwd, keyframe, now)

    async def on_sender_report(self, packet: RtcpSrPacket, arrival_unix: float) -> None:
        """A publisher's SR; ``arrival_unix`` is its arrival on our wall clock (``time.time()``)."""
        if self._sr_clock is not None:
            # Our arrival time, not the publisher's clock: SRs on our legs use our clock.
            self._sr_clock.on_sender_report(
                packet.sender_info.ntp_timestamp,
                packet.sender_info.rtp_timestamp,
                received_at_ntp=ntp_from_unix(arrival_unix),
            )

    def _learn_codec(self, payload_type: int) -> None:
        if self._tap is None:
            return
        codec = self._tap.codecs.get(payload_type)
        if codec is not None:
            self.set_codec(codec)

    def _on_keyframe(self, payload: bytes, now: float) -> None:
        self.keyframes += 1
        self._keyframe_throttle.keyframe_received()
        if self._codec_name == "vp8":
            size = vp8_keyframe_size(payload)
            if size is not None:
                self._set_source_size(size, now)

    def _set_source_size(self, size: Size, now: float) -> None:
        """The one place the source size is written (the packet that carried it arrived at ``now``)."""
        if size != (self.width, self.height):
            self.width, self.height = size
            self.sources.set_source_size(size, now)

    def _send_nacks(self, now: float) -> None:
        assert self._nacks is not None
        due = self._nacks.due(now)
        if due and self._tap is not None and self.media_ssrc is not None:
            self._counters.nacks_sent += 1
            self._tap.send_nack(self.media_ssrc, due)
        if self._nacks.needs_keyframe:
            self.request_keyframe(now)

    # ------------------------------------------------------------ keyframes

    def replay_from_keyframe(self, now: float) -> Sequence[ForwardedPacket] | None:
        """The packets since the last keyframe, if recent (a :class:`~sfu.source.KeyframeReplay`)."""
        return self._gop.replay(now) if self._gop is not None else None

    def request_keyframe(self, now: float) -> None:
        """Ask the publisher for a keyframe, at most once per interval (never lost).

        Sent at once when the throttle allows; otherwise remembered and sent the moment the
        interval is up (a timer: a late joiner waiting for its first picture should not wait
        for the room's next tick as well). Before the publisher's SSRC is known, :meth:`tick`
        sends it."""
        if self.kind != "video" or self.closed:
            return
        throttle = self._keyframe_throttle
        if throttle.request(now):
            self._pli_wanted = True
            self._flush_keyframe_request()
            return
        due = throttle.next_due_time()
        if self._keyframe_timer is None and due is not None:
            self._keyframe_timer = asyncio.get_running_loop().call_later(
                max(0.0, due - now), self._keyframe_request_due
            )

    def _keyframe_request_due(self) -> None:
        self._keyframe_timer = None
        if self.closed:
            return
        now = time.monotonic()
        if self._keyframe_throttle.due(now):
            self._pli_wanted = True
            self._flush_keyframe_request()
        else:
            due = self._keyframe_throttle.next_due_time()
            if due is not None:  # woken a little early (timer resolution): once more
                self._keyframe_timer = asyncio.get_running_loop().call_later(
                    max(0.001, due - now), self._keyframe_request_due
                )

    async def tick(self, now: float) -> None:
        """Timer work, called by the room every ~100 ms."""
        if self.closed:
            return
        if self._keyframe_throttle.due(now):
            self._pli_wanted = True
        self._flush_keyframe_request()
        if self._nacks is not None and self._nacks.missing_count:
            self._send_nacks(now)
        if self._stall is not None:
            change = self._stall.check(now)
            if change is not None:
                self.stalled = change == "stalled"
                self._on_stall_change(self, self.stalled)
        await self.sources.tick(now)

    def upstream_request(self, now: float) -> HeightRequest | None:
        """Whether to ask the publisher for another picture height (issue 15: every leg capped
        below what it sends); called by the room's adaptation step. None: nothing to send."""
        if self.kind != "video" or self.closed or self.muted:
            return None
        return self.upstream.update(self.sources.largest_needed_height(), self.height, now)

    def _flush_keyframe_request(self) -> None:
        if self._pli_wanted and self._tap is not None and self.media_ssrc is not None:
            self._pli_wanted = False
            self._counters.plis_sent += 1
            self._tap.send_pli(self.media_ssrc)

    # ------------------------------------------------------------ lifecycle

    async def close(self) -> None:
        """Idempotent: detaches consumers (their owners remove them) and stops renditions."""
        if self.closed:
            return
        self.closed = True
        if self._keyframe_timer is not None:
            self._keyframe_timer.cancel()
            self._keyframe_timer = None
        for tap in list(self.taps):
            tap.on_close()
        self.taps.clear()
        await self.sources.close()

    def dump(self) -> dict[str, object]:
        return {
            "id": self.id,
            "participant_id": self.participant_id,
            "kind": self.kind,
            "source": self.source,
            "codec": self._codec_name,
            "muted": self.muted,
            "size": [self.width, self.height],
            "packets": self.packets,
            "bytes": self.bytes,
            "keyframes": self.keyframes,
            "consumers": len(self.consumers),
            "nacks": self._nacks.stats() if self._nacks else None,
            "renditions": self.sources.dump() if self.kind == "video" else None,
            "stalled": self.stalled,
            "upstream": self.upstream.dump() if self.kind == "video" else None,
        }


def _always(payload: bytes) -> bool:
    return True
