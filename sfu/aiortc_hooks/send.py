"""Sending: subscriber legs whose RTP we write ourselves, synchronously.

``RTCRtpSender._run_rtp`` pulls frames from a track and encodes them; we replace it with an
idle coroutine and write packets ourselves with :func:`send_now`. ``_run_rtcp`` would send
sender reports with zero timestamps (nothing went through its counters), which would break
lip sync, so it is replaced by one that sends only BYE; our consumer sends the SRs.
``_handle_rtcp_packet`` is wrapped so NACK, PLI, FIR, REMB and receiver reports reach the
consumer, with their arrival time, and every packet reaches an optional observer: the
subscriber's link estimate.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pylibsrtp
from aiortc import RTCRtpSender
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcdtlstransport import State as _DtlsState
from aiortc.rtcrtpparameters import RTCRtpCodecParameters, RTCRtpSendParameters
from aiortc.rtp import (
    AnyRtcpPacket,
    RtcpByePacket,
    RtcpPsfbPacket,
    RtcpRrPacket,
    RtcpRtpfbPacket,
    RtcpSdesPacket,
    RtcpSourceInfo,
    RtcpSrPacket,
)

from sfu.aiortc_hooks._private import SENDER, private
from sfu.aiortc_hooks.srtp import SrtpContext, srtp_context

#: Feedback from a subscriber (NACK, PLI, FIR, REMB, receiver reports) and its arrival (``time.monotonic()``).
RtcpSink = Callable[[AnyRtcpPacket, float], Awaitable[None]]
#: Sees every RTCP packet routed to a sender, receiver reports included, before it is handled
#: (the subscriber's link estimate, issue 15); synchronous, must not raise.
RtcpObserver = Callable[[AnyRtcpPacket, float], None]

_DTLS_CONNECTED = _DtlsState.CONNECTED
_SENDER_TRANSPORT = SENDER + "transport"


class _Route:
    """Where a DTLS transport's packets go: resolved once per nominated pair and SRTP session."""

    __slots__ = ("address", "pair", "protocol", "srtp", "srtp_session")

    def __init__(self, pair: Any, srtp_session: pylibsrtp.Session) -> None:
        self.pair = pair
        self.protocol = pair.protocol
        self.address = pair.remote_addr  # a property that builds a new tuple on every read
        self.srtp_session = srtp_session
        self.srtp: SrtpContext = srtp_context(srtp_session)


def send_now(dtls: RTCDtlsTransport, data: bytes, *, rtcp: bool = False) -> bool:
    """SRTP-protect and write one packet to the nominated ICE pair, synchronously.

    aiortc's path is four nested coroutines (DTLS transport -> ICE transport -> aioice
    connection -> protocol) that end in one ``transport.sendto``; on the packet path,
    per subscriber, that chain was most of our cost. False (dropped) when not connected
    (no DTLS yet, no nominated pair, the socket closed).
    """
    if dtls._state is not _DTLS_CONNECTED:
        return False
    pair = dtls._transport._connection._nominated.get(1)
    if pair is None:
        return False
    session = dtls._tx_srtp
    route: _Route | None = dtls.__dict__.get("_sfu_route")
    if route is None or route.pair is not pair or route.srtp_session is not session:
        if session is None:
            return False
        route = _Route(pair, session)
        dtls._sfu_route = route  # type: ignore[attr-defined]
    transport = route.protocol.transport
    if transport is None:  # the ICE socket closed under us
        return False
    try:
        protected = route.srtp_session.protect_rtcp(data) if rtcp else route.srtp.protect(data)
        transport.sendto(protected, route.address)
    except (pylibsrtp.Error, ValueError, OSError):  # a bad packet or a socket error: drop it
        return False
    return True


@dataclass
class SendParameters:
    """What was negotiated for a taken-over sender (known once the transport connects)."""

    codec: RTCRtpCodecParameters
    payload_type: int
    mid: str | None
    cname: str | None
    mid_ext_id: int | None
    abs_send_time_ext_id: int | None
    audio_level_ext_id: int | None


class SenderHandle:
    """A sender whose RTP we write ourselves."""

    def __init__(self, sender: RTCRtpSender, on_rtcp: RtcpSink) -> None:
        self.sender = sender
        self.ssrc: int = sender._ssrc
        self.parameters: SendParameters | None = None
        self.ready = asyncio.Event()
        self._on_rtcp = on_rtcp
        self._observer: RtcpObserver | None = None

    async def send_rtp(self, data: bytes) -> None:
        """Send one serialised RTP (or RTCP) packet; silently dropped when not connected."""
        try:
            await self.sender.transport._send_rtp(data)
        except ConnectionError:
            pass

    def send_now(self, data: bytes, *, rtcp: bool = False) -> bool:
        """Send one RTP (or RTCP) packet synchronously; False (dropped) when not connected."""
        # The attribute behind the ``transport`` property (one Python frame less per packet).
        return send_now(getattr(self.sender, _SENDER_TRANSPORT), data, rtcp=rtcp)

    def set_rtcp_sink(self, on_rtcp: RtcpSink) -> None:
        self._on_rtcp = on_rtcp

    def set_rtcp_observer(self, observer: RtcpObserver | None) -> None:
        self._observer = observer


def take_over_sender(sender: RTCRtpSender, on_rtcp: RtcpSink) -> SenderHandle:
    """Stop aiortc from encoding or reporting for ``sender``; return a handle to write RTP."""
    handle = SenderHandle(sender, on_rtcp)
    private(sender, SENDER, "transport")
    rtp_started: asyncio.Event = private(sender, SENDER, "rtp_started")
    rtp_exited: asyncio.Event = private(sender, SENDER, "rtp_exited")
    rtcp_started: asyncio.Event = private(sender, SENDER, "rtcp_started")
    rtcp_exited: asyncio.Event = private(sender, SENDER, "rtcp_exited")
    original_send = sender.send
    original_rtcp = sender._handle_rtcp_packet

    async def send(parameters: RTCRtpSendParameters) -> None:
        if handle.parameters is None:
            ids: dict[str, int] = {e.uri: e.id for e in parameters.headerExtensions}
            codec = parameters.codecs[0]
            handle.parameters = SendParameters(
                codec=codec,
                payload_type=int(codec.payloadType or 0),
                mid=parameters.muxId,
                cname=parameters.rtcp.cname,
                mid_ext_id=ids.get("urn:ietf:params:rtp-hdrext:sdes:mid"),
                abs_send_time_ext_id=ids.get("http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"),
                audio_level_ext_id=ids.get("urn:ietf:params:rtp-hdrext:ssrc-audio-level"),
            )
        await original_send(parameters)
        handle.ready.set()

    async def run_rtp(codec: RTCRtpCodecParameters) -> None:
        rtp_started.set()
        try:
            await asyncio.Future()  # idle until stop() cancels us
        except asyncio.CancelledError:
            pass
        finally:
            rtp_exited.set()

    async def run_rtcp() -> None:
        rtcp_started.set()
        try:
            await asyncio.Future()
        except asyncio.CancelledError:
            pass
        try:
            await handle.send_rtp(bytes(RtcpByePacket(sources=[handle.ssrc])))
        finally:
            rtcp_exited.set()

    async def handle_rtcp(packet: AnyRtcpPacket) -> None:
        observer = handle._observer
        if observer is not None:
            observer(packet, time.monotonic())
        if isinstance(packet, RtcpPsfbPacket | RtcpRtpfbPacket):
            await handle._on_rtcp(packet, time.monotonic())
        else:
            await original_rtcp(packet)  # receiver reports: aiortc keeps its loss stats
            if isinstance(packet, RtcpRrPacket | RtcpSrPacket):
                # and the consumer its round trip (aiortc's own needs SRs it never sends here)
                await handle._on_rtcp(packet, time.monotonic())

    sender.send = send  # type: ignore[method-assign]
    sender._run_rtp = run_rtp  # type: ignore[method-assign]
    sender._run_rtcp = run_rtcp  # type: ignore[method-assign]
    sender._handle_rtcp_packet = handle_rtcp  # type: ignore[method-assign]
    return handle


def sdes_packet(ssrc: int, cname: str) -> bytes:
    return bytes(RtcpSdesPacket(chunks=[RtcpSourceInfo(ssrc=ssrc, items=[(1, cname.encode("utf8"))])]))
