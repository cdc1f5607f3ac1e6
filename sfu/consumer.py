"""Consumer: one subscriber's leg of one producer.

A leg is one sendonly m-line on the subscriber's connection, with its own SSRC. It is
fed by exactly one source at a time: the producer's passthrough or one of its
renditions. Which one is the producer's decision (its
:class:`~sfu.source_selector.SourceSelector` calls :meth:`Consumer.switch_to`); the
consumer sees its producer and sources only through the protocols of :mod:`sfu.source`.
Changing source (a new resolution cap, an effect switched on or off) is
done without a renegotiation and without a frozen frame: the new source is attached
as *pending*, and the leg keeps forwarding the old one until the new one delivers the
start of a keyframe; at that packet the rewriter starts a new mapping so sequence
numbers and timestamps stay continuous for the receiver.

Per packet (the hot path): rewrite seq/ts, build the header for this leg, remember
the bytes for NACKs, send. NACKs from the subscriber are answered from that cache;
PLI/FIR go to the current source, which throttles them.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    AnyRtcpPacket,
    RtcpPsfbPacket,
    RtcpRrPacket,
    RtcpRtpfbPacket,
    RtcpSenderInfo,
    RtcpSrPacket,
)

from sfu.aiortc_hooks import SenderHandle
from sfu.ids import ConsumerId, ParticipantId
from sfu.kinds import MediaKind
from sfu.packet.keyframe_gate import KeyframeGate
from sfu.packet.leg_repair import LegRepair
from sfu.packet.rewriter import LegRewriter
from sfu.packet.rtp_header import ExtensionIds, RtpHeaderWriter, abs_send_time_from_seconds
from sfu.packet.sender_report import LegSenderStats, ntp_from_unix
from sfu.source import ForwardedPacket, ForwardedTrack, KeyframeReplay, MediaSource
from sfu.stats import SfuCounters

#: Packets of a pending source held while the current one finishes its frame (bounded).
MAX_HELD_PACKETS = 256
#: Padding duplicates the leg's newest packets, at most this many of them, in turn.
PADDING_FROM_PACKETS = 16

#: Which of a NACK's resends may leave now (the subscriber link's send budget, issue 15): given
#: the packets and the time, returns those allowed, in order.
RetransmissionGate = Callable[[list[bytes], float], list[bytes]]


class Consumer:
    """One subscriber's leg: a :class:`~sfu.source.Leg` and a :class:`~sfu.source.PacketSink`."""

    def __init__(
        self,
        *,
        consumer_id: ConsumerId,
        subscriber_id: ParticipantId,
        track: ForwardedTrack,
        handle: SenderHandle,
        cache_packets: int,
        counters: SfuCounters,
        rewriter: LegRewriter | None = None,
    ) -> None:
        self.id = consumer_id
        self.subscriber_id = subscriber_id
        self.track = track
        self.handle = handle
        self.kind: MediaKind = track.kind
        self.closed = False
        self.current: MediaSource | None = None
        self.pending: MediaSource | None = None
        self.packets_sent = 0
        self.bytes_sent = 0
        self.retransmissions = 0
        #: bytes resent; resends the link's send budget refused
        self.retransmitted_bytes = 0
        self.retransmissions_over_budget = 0
        #: set by the subscriber's link adapter (None: every resend leaves)
        self.retransmission_gate: RetransmissionGate | None = None
        self.keyframe_requests = 0
        #: bytes of padding sent (duplicates of recent packets: a padding probe)
        self.padding_bytes = 0
        self._counters = counters
        # A recycled m-line keeps its rewriter: same SSRC, continuous sequence numbers.
        # Renditions keep the producer's timestamps (shared_ts_space), so a switch keeps
        # the offset and sender reports stay exact.
        self._rewriter = rewriter or LegRewriter(
            track.clock_rate, random.randrange(1 << 16), random.randrange(1 << 32), shared_ts_space=True
        )
        self._gate = KeyframeGate()
        self._repair = LegRepair(cache_packets)
        self._stats = LegSenderStats()
        self._writer: RtpHeaderWriter | None = None
        self._payload_type = 0
        self._mid: str | None = None
        self._video = track.kind == "video"
        #: the last packet forwarded did not end its frame
        self._mid_frame = False
        #: packets of the pending source's keyframe, held until the current frame ends
        self._held: list[ForwardedPacket] = []
        handle.set_rtcp_sink(self.on_rtcp)

    @property
    def rewriter(self) -> LegRewriter:
        return self._rewriter

    # ------------------------------------------------------------ source switching

    def switch_to(self, wanted: MediaSource | None, now: float) -> None:
        """Be fed by ``wanted`` (None: by nothing), as the producer's source selector decided.

        Video switches between whole frames: the new source is pending until it starts a
        keyframe (see the module docstring)."""
        if self.closed:
            return
        if wanted is self.current and self.pending is None:
            return
        if wanted is None:
            self._detach_all()
            return
        if self.current is None or not self._video:
            self._detach_all()
            self.current = wanted
            wanted.consumers.add(self)
            self._rewriter.switch(wanted.source_id, now)
            self._gate.reset()
            self._want_keyframe(wanted, now)
            return
        if wanted is self.current:  # back to current: drop the pending switch
            self._detach_pending()
            return
        self._detach_pending()
        self.pending = wanted
        wanted.consumers.add(self)
        self._want_keyframe(wanted, now)

    def _want_keyframe(self, source: MediaSource, now: float) -> None:
        if self._writer is None:
            # Not connected yet: a keyframe now would pass before the leg can send it, and
            # would spend the publisher's keyframe budget (2/s) that other legs wait on. The
            # leg asks when it connects (``_setup_writer``).
            return
        self.keyframe_requests += 1
        source.request_keyframe(now)

    def _detach_pending(self) -> None:
        self._held = []
        if self.pending is not None:
            if self.pending is not self.current:
                self.pending.consumers.discard(self)
            self.pending = None

    def _detach_all(self) -> None:
        self._detach_pending()
        if self.current is not None:
            self.current.consumers.discard(self)
            self.current = None

    # ------------------------------------------------------------ packet path

    def on_packet(self, source: MediaSource, pkt: ForwardedPacket, now: float) -> None:
        if source is not self.current:
            if source is not self.pending:
                return
            if self._held:
                self._held.append(pkt)
                if len(self._held) > MAX_HELD_PACKETS:
                    self._switch_to_pending(now)  # the old source never finished its frame
                return
            if not pkt.keyframe:
                return
            # The pending source starts a keyframe. Switch between frames: if the old
            # source is in the middle of one, hold the new packets until its last packet
            # (a receiver given half a frame and then another stream would decode garbage).
            self._held.append(pkt)
            if not self._mid_frame:
                self._switch_to_pending(now)
            return
        self._forward(source, pkt, now)
        if self._held and pkt.marker:
            self._switch_to_pending(now)

    def _switch_to_pending(self, now: float) -> None:
        source = self.pending
        held, self._held = self._held, []
        if source is None:
            return
        if self.current is not None:
            self.current.consumers.discard(self)
        self.current = source
        self.pending = None
        self._mid_frame = False
        self._rewriter.switch(source.source_id, now)
        self._gate.reset()
        for pkt in held:
            self._forward(source, pkt, now)

    def _forward(self, source: MediaSource, pkt: ForwardedPacket, now: float) -> None:
        writer = self._writer
        if writer is None:
            params = self.handle.parameters
            if params is None:
                return  # the subscriber's transport is not connected yet
            writer = self._setup_writer(source, pkt, now)
        if self._video and self._gate.waiting and not self._gate.admit(pkt.keyframe, pkt.frame_start):
            return
        mapped = self._rewriter.rewrite(source.source_id, pkt.seq, pkt.ts, now)
        if mapped is None:
            return
        self._mid_frame = not pkt.marker
        out_seq, out_ts = mapped
        payload = pkt.payload
        data = writer.build(
            self._payload_type,
            pkt.marker,
            out_seq,
            out_ts,
            self.handle.ssrc,
            payload,
            mid=self._mid,
            abs_send_time=abs_send_time_from_seconds(now),
            audio_level=pkt.audio_level,
        )
        self._repair.store(out_seq, data, now)
        self._stats.on_sent(len(payload))
        self.packets_sent += 1
        self.bytes_sent += len(data)
        counters = self._counters
        counters.rtp_packets_forwarded += 1
        counters.rtp_bytes_forwarded += len(data)
        self.handle.send_now(data)

    def _setup_writer(self, source: MediaSource, pkt: ForwardedPacket, now: float) -> RtpHeaderWriter:
        """The leg connected; ``pkt`` of ``source`` is the first packet it can send."""
        params = self.handle.parameters
        assert params is not None
        self._payload_type = params.payload_type
        self._mid = params.mid
        self._writer = RtpHeaderWriter(
            ExtensionIds(
                mid=params.mid_ext_id,
                abs_send_time=params.abs_send_time_ext_id,
                audio_level=params.audio_level_ext_id,
            )
        )
        if self._video:
            if self.current is not None and not self._start_from_recent_keyframe(source, pkt, now):
                self._want_keyframe(self.current, now)
            if self.pending is not None:
                self._want_keyframe(self.pending, now)
        return self._writer

    def _start_from_recent_keyframe(self, source: MediaSource, pkt: ForwardedPacket, now: float) -> bool:
        """Start the picture without asking the publisher: ``pkt`` starts a keyframe, or the
        source replays its recent packets from its last keyframe up to ``pkt`` (sent here, so
        the leg's first picture leaves now; see sfu/packet/gop_cache.py)."""
        if source is not self.current:
            return False
        if pkt.keyframe and pkt.frame_start:
            return True
        if not isinstance(source, KeyframeReplay):
            return False
        replay = source.replay_from_keyframe(now)
        if not replay or (replay[-1].seq + 1) & 0xFFFF != pkt.seq:
            return False  # none recent, or not contiguous with the live packet
        self._counters.legs_started_from_cached_keyframe += 1
        for cached in replay:
            self._forward(source, cached, now)
        return True

    def send_padding(self, nbytes: int) -> int:
        """About ``nbytes`` (at least one packet) of duplicates of the leg's newest packets: a
        padding probe of the subscriber's link (:mod:`sfu.packet.padding_probe`). Each duplicate
        crosses the link like any packet, and the receiver's SRTP replay check then drops it
        (one whose original was lost repairs it instead). Returns the bytes sent (0: nothing
        sent on the leg yet)."""
        if self.closed or nbytes <= 0:
            return 0
        recent = self._repair.newest(PADDING_FROM_PACKETS)
        if not recent:
            return 0
        sent = 0
        send = self.handle.send_now
        while sent < nbytes:
            for data in recent:
                if not send(data):
                    return self._padded(sent)  # not connected: nothing goes out
                sent += len(data)
                if sent >= nbytes:
                    break
        return self._padded(sent)

    def _padded(self, nbytes: int) -> int:
        self.padding_bytes += nbytes
        self._counters.padding_bytes_sent += nbytes
        return nbytes

    # ------------------------------------------------------------ feedback from the subscriber

    async def on_rtcp(self, packet: AnyRtcpPacket, now: float) -> None:
        """Feedback from the subscriber, arrived at ``now``."""
        if self.closed:
            return
        if isinstance(packet, RtcpRtpfbPacket) and packet.fmt == RTCP_RTPFB_NACK:
            counters = self._counters
            counters.nacks_received += 1
            repair = self._repair
            suppressed = repair.suppressed
            resend = repair.on_nack(packet.lost, now)
            counters.retransmissions_suppressed += repair.suppressed - suppressed
            gate = self.retransmission_gate
            if gate is not None and resend:
                allowed = gate(resend, now)
                if len(allowed) != len(resend):
                    refused = len(resend) - len(allowed)
                    self.retransmissions_over_budget += refused
                    counters.retransmissions_over_budget += refused
                    resend = allowed
            self.retransmissions += len(resend)
            counters.retransmissions += len(resend)
            for data in resend:
                self.retransmitted_bytes += len(data)
                counters.rtp_bytes_retransmitted += len(data)
                self.handle.send_now(data)
        elif isinstance(packet, RtcpRrPacket | RtcpSrPacket):
            ssrc = self.handle.ssrc
            for report in packet.reports:
                if report.ssrc == ssrc:
                    self._repair.on_report_block(report.lsr, report.dlsr, now)
        elif isinstance(packet, RtcpPsfbPacket) and packet.fmt in (RTCP_PSFB_PLI, RTCP_PSFB_FIR):
            self._counters.plis_received += 1
            if self.current is not None:
                self._want_keyframe(self.current, now)
        elif isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
            pass  # REMB: the leg's bitrate is the publisher's; caps are explicit preferences

    def sender_report(self, now_unix: float, now: float) -> bytes | None:
        """This leg's RTCP SR, mapping wall time to our outgoing timestamps (lip sync).

        ``now`` (monotonic) is when it leaves: the subscriber's receiver reports echo it,
        which gives the leg's round trip (see :mod:`sfu.packet.leg_rtt`)."""
        clock = self.track.sr_clock
        if self.closed or self.current is None or clock is None or self._stats.packet_count == 0:
            return None
        ntp = ntp_from_unix(now_unix)
        source_ts = clock.rtp_at(ntp)
        if source_ts is None:
            return None
        out_ts = self._rewriter.map_ts(self.current.source_id, source_ts)
        if out_ts is None:
            return None
        self._repair.on_sender_report_sent(ntp, now)
        return bytes(
            RtcpSrPacket(
                ssrc=self.handle.ssrc,
                sender_info=RtcpSenderInfo(
                    ntp_timestamp=ntp,
                    rtp_timestamp=out_ts,
                    packet_count=self._stats.packet_count,
                    octet_count=self._stats.octet_count,
                ),
            )
        )

    # ------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Idempotent: stop receiving from any source."""
        if self.closed:
            return
        self._detach_all()
        self.closed = True

    def dump(self) -> dict[str, object]:
        return {
            "id": self.id,
            "producer_id": self.track.id,
            "subscriber_id": self.subscriber_id,
            "kind": self.kind,
            "source": getattr(self.current, "source_id", None),
            "pending": getattr(self.pending, "source_id", None),
            "packets_sent": self.packets_sent,
            "bytes_sent": self.bytes_sent,
            "retransmissions": self.retransmissions,
            "retransmitted_bytes": self.retransmitted_bytes,
            "retransmissions_over_budget": self.retransmissions_over_budget,
            "padding_bytes": self.padding_bytes,
            "repair": self._repair.stats(),
            "mid": self._mid,
        }
