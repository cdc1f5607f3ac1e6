"""Receiving: a publisher's packets go to our producer, not to aiortc's jitter buffer and decoder.

Packets of SSRCs a hooked receiver owns are taken off the ICE connection, decrypted and
parsed with ``sfu.packet.parse_rtp`` (see :func:`install_fast_receive`); the first packets
of an SSRC still take aiortc's path, which ends in ``receiver._handle_rtp_packet(packet,
arrival_time_ms)``, replaced on the instance. Both keep aiortc's receive statistics (so its
RTCP receiver reports stay right), unwrap RTX, feed the REMB estimator, and hand the packet
to our producer with its arrival time. SRs from the publisher (``receiver._handle_rtcp_packet``)
are passed on too.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pylibsrtp
from aiortc import RTCRtpReceiver
from aiortc.codecs import is_rtx
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcdtlstransport import State as _DtlsState
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtcrtpreceiver import StreamStatistics
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    AnyRtcpPacket,
    HeaderExtensions,
    RtcpPsfbPacket,
    RtcpRtpfbPacket,
    RtcpSrPacket,
    RtpPacket,
    pack_remb_fci,
)

from sfu.aiortc_hooks._private import RECEIVER, private
from sfu.aiortc_hooks.send import send_now
from sfu.aiortc_hooks.srtp import srtp_context
from sfu.packet import ReceiveBandwidthEstimator, ReceivedRtp, parse_rtp

RtpSink = Callable[[ReceivedRtp, float], None]  # the packet, its arrival (time.monotonic())
#: A publisher's sender report and its arrival (``time.time()``: SRs map wall-clock time).
SenderReportSink = Callable[[RtcpSrPacket, float], Awaitable[None]]

_DTLS_CONNECTED = _DtlsState.CONNECTED
_RECEIVER_RTCP_SSRC = RECEIVER + "rtcp_ssrc"


class ReceiveStatistics(StreamStatistics):
    """aiortc's statistics of one received SSRC (its RTCP receiver reports read them), fed
    with the arrival time the fast path already read instead of a ``time.time()`` per packet.

    ``add_at`` does what ``StreamStatistics.add`` does, in one frame (``uint16_gt`` inlined);
    arrival times are monotonic seconds: only differences enter the jitter. Tested equal to
    ``add`` in tests/sfu/aiortc_hooks/test_receive.py.
    """

    def add_at(self, packet: ReceivedRtp, now: float) -> None:
        seq = packet.sequence_number
        max_seq = self.max_seq
        self.packets_received += 1
        if self.base_seq is None:
            self.base_seq = seq
        if max_seq is None or (seq != max_seq and (seq - max_seq) & 0xFFFF < 0x8000):  # in order
            arrival = int(now * self._clockrate)
            if max_seq is not None and seq < max_seq:
                self.cycles += 1 << 16
            self.max_seq = seq
            timestamp = packet.timestamp
            last_timestamp = self._last_timestamp
            if timestamp != last_timestamp and self.packets_received > 1:
                # both were set by the first packet
                diff = abs((arrival - self._last_arrival) - (timestamp - last_timestamp))  # type: ignore[operator]
                self._jitter_q4 += diff - ((self._jitter_q4 + 8) >> 4)
            self._last_arrival = arrival
            self._last_timestamp = timestamp


@dataclass
class ReceiverTap:
    """What a hooked receiver gives back: ways to send feedback upstream, synchronously."""

    receiver: RTCRtpReceiver
    #: the last REMB we sent the publisher (bits/s; None: none yet): its uplink as we see it
    remb_bps: int | None = None

    def _rtcp_ssrc(self) -> int | None:
        ssrc: int | None = private(self.receiver, RECEIVER, "rtcp_ssrc")
        return ssrc

    def send_pli(self, media_ssrc: int) -> None:
        ssrc = self._rtcp_ssrc()
        if ssrc is not None:
            packet = RtcpPsfbPacket(fmt=RTCP_PSFB_PLI, ssrc=ssrc, media_ssrc=media_ssrc)
            send_now(self.receiver.transport, bytes(packet), rtcp=True)

    def send_nack(self, media_ssrc: int, lost: list[int]) -> None:
        ssrc = self._rtcp_ssrc()
        if ssrc is not None:
            packet = RtcpRtpfbPacket(fmt=RTCP_RTPFB_NACK, ssrc=ssrc, media_ssrc=media_ssrc)
            packet.lost = lost
            send_now(self.receiver.transport, bytes(packet), rtcp=True)

    @property
    def codecs(self) -> dict[int, RTCRtpCodecParameters]:
        return dict(private(self.receiver, RECEIVER, "codecs"))


def _rtx_apt(codec: RTCRtpCodecParameters) -> int | None:
    """None for a media codec; for RTX its associated payload type, -1 when unusable."""
    if not is_rtx(codec):
        return None
    apt = codec.parameters.get("apt")
    return apt if isinstance(apt, int) else -1


def hook_receiver(receiver: RTCRtpReceiver, on_rtp: RtpSink, on_sender_report: SenderReportSink) -> ReceiverTap:
    """Divert a receiver's packets to ``on_rtp`` (media ssrc, RTX already unwrapped).

    ``on_rtp`` is called synchronously: from the fast receive path (see
    :func:`install_fast_receive`) straight from the socket callback, or from aiortc's
    own receive loop for the first packets of an SSRC it has not routed yet.
    """
    codecs: dict[int, RTCRtpCodecParameters] = private(receiver, RECEIVER, "codecs")
    rtx_ssrc: dict[int, int] = private(receiver, RECEIVER, "rtx_ssrc")
    # aiortc never fills it itself once its _handle_rtp_packet is replaced: only we do.
    remote_streams: dict[int, ReceiveStatistics] = private(receiver, RECEIVER, "remote_streams")
    # aiortc makes a REMB estimator for video receivers; ours gives the same answers for a
    # third of the cost per packet (sfu/packet/receive_bandwidth.py).
    video = private(receiver, RECEIVER, "remote_bitrate_estimator") is not None
    private(receiver, RECEIVER, "rtcp_ssrc")
    estimator = ReceiveBandwidthEstimator() if video else None
    # Per payload type: the codec seen, and for RTX its associated payload type (-1: an RTX
    # codec without a usable apt). Looked up again when renegotiation replaces the codec.
    kinds: dict[int, tuple[RTCRtpCodecParameters, int | None]] = {}
    original_rtcp = receiver._handle_rtcp_packet
    tap = ReceiverTap(receiver)

    def send_remb(remb: tuple[int, list[int]]) -> None:
        tap.remb_bps = remb[0]
        rtcp_ssrc = getattr(receiver, _RECEIVER_RTCP_SSRC)
        if rtcp_ssrc is not None:
            feedback = RtcpPsfbPacket(fmt=RTCP_PSFB_APP, ssrc=rtcp_ssrc, media_ssrc=0, fci=pack_remb_fci(*remb))
            send_now(receiver.transport, bytes(feedback), rtcp=True)

    def handle_rtp_now(packet: ReceivedRtp, now: float) -> None:
        nonlocal estimator
        payload_type = packet.payload_type
        codec = codecs.get(payload_type)
        if codec is None:
            return
        known = kinds.get(payload_type)
        if known is None or known[0] is not codec:
            known = kinds[payload_type] = (codec, _rtx_apt(codec))
        stats = remote_streams.get(packet.ssrc)
        if stats is None:
            stats = remote_streams[packet.ssrc] = ReceiveStatistics(codec.clockRate)
        stats.add_at(packet, now)
        if estimator is not None and packet.abs_send_time is not None:
            try:
                remb = estimator.add(
                    int(now * 1000), packet.abs_send_time, len(packet.payload) + packet.padding_size, packet.ssrc
                )
            except ArithmeticError:
                # aiortc's formulas divide by the estimate, which a second of empty packets
                # can bring to zero: start the estimate afresh rather than lose the stream.
                estimator = ReceiveBandwidthEstimator()
                remb = None
            if remb is not None:
                send_remb(remb)
        apt = known[1]
        if apt is not None:
            original_ssrc = rtx_ssrc.get(packet.ssrc)
            rtx = packet.payload
            if original_ssrc is None or len(rtx) < 2 or apt < 0:
                return
            # RFC 4588: the original sequence number, then the original payload.
            packet = ReceivedRtp(
                apt,
                packet.marker,
                rtx[0] << 8 | rtx[1],
                packet.timestamp,
                original_ssrc,
                rtx[2:],
                0,
                packet.abs_send_time,
                packet.audio_level,
            )
        on_rtp(packet, now)

    async def handle_rtp(packet: RtpPacket, arrival_time_ms: int) -> None:
        # aiortc's own loop (first packets of an SSRC): our clock, as on the fast path, so
        # that the bandwidth estimator and the jitter see one clock.
        received = ReceivedRtp(
            packet.payload_type,
            packet.marker,
            packet.sequence_number,
            packet.timestamp,
            packet.ssrc,
            packet.payload,
            packet.padding_size,
            packet.extensions.abs_send_time,
            packet.extensions.audio_level,
        )
        handle_rtp_now(received, time.monotonic())

    async def handle_rtcp(packet: AnyRtcpPacket) -> None:
        await original_rtcp(packet)
        if isinstance(packet, RtcpSrPacket):
            await on_sender_report(packet, time.time())

    receiver._handle_rtp_packet = handle_rtp  # type: ignore[method-assign]
    receiver._handle_rtcp_packet = handle_rtcp  # type: ignore[method-assign]
    receiver._sfu_handle_rtp_now = handle_rtp_now  # type: ignore[attr-defined]
    install_fast_receive(receiver.transport)
    return tap


def install_fast_receive(dtls: RTCDtlsTransport) -> None:
    """Handle SRTP packets for hooked receivers as they come off the socket.

    aiortc queues every datagram (aioice ``Connection._queue``), and a task per DTLS
    transport takes it off, decrypts, parses and routes it: several task switches per
    packet, the largest cost of receiving. The RTP header is in clear text in SRTP, so
    we read the SSRC first; when it belongs to a receiver we hooked, we decrypt, parse
    and hand it over right here, synchronously. Everything else (DTLS, RTCP, unknown
    SSRCs, whose routing aiortc learns) takes aiortc's path unchanged. Idempotent.
    """
    if dtls.__dict__.get("_sfu_fast_receive", False):
        return
    connection = dtls.transport._connection
    original = connection.data_received
    router = dtls._rtp_router
    # The negotiated ids, updated in place by aiortc on every renegotiation.
    ids: HeaderExtensions = private(dtls._rtp_header_extensions_map, "_HeaderExtensionsMap__", "ids")

    def data_received(data: bytes, component: int) -> None:
        if (
            len(data) >= 12
            and 127 < data[0] < 192
            and not 192 <= data[1] <= 208  # RTCP
            and dtls._state is _DTLS_CONNECTED
        ):
            receiver = router.ssrc_table.get(int.from_bytes(data[8:12], "big"))
            # our own attribute, set by hook_receiver: absent on receivers we did not hook
            handle = getattr(receiver, "_sfu_handle_rtp_now", None)
            rx_srtp = dtls._rx_srtp
            if handle is not None and rx_srtp is not None:
                arrival = time.monotonic()
                try:
                    plain = srtp_context(rx_srtp).unprotect(data)
                    packet = parse_rtp(plain, ids.abs_send_time, ids.audio_level)
                except (pylibsrtp.Error, ValueError):  # RtpParseError is a ValueError
                    return
                handle(packet, arrival)
                return
        original(data, component)

    connection.data_received = data_received  # type: ignore[method-assign]
    dtls._sfu_fast_receive = True  # type: ignore[attr-defined]
