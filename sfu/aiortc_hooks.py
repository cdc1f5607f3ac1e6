"""Every use of aiortc's and aioice's private API lives here, and only here.

aiortc 1.16.0 is built to decode what it receives and encode what it sends. An SFU
needs neither, so we take over three places (tests/sfu/test_aiortc_hooks.py fails
loudly if an upgrade changes any of them):

* receiving: packets of SSRCs a hooked receiver owns are taken off the ICE connection,
  decrypted and parsed with ``sfu.packet.parse_rtp`` (see ``install_fast_receive``);
  the first packets of an SSRC still take aiortc's path, which ends in
  ``receiver._handle_rtp_packet(packet, arrival_time_ms)``, replaced on the instance. Both
  keep aiortc's receive statistics (so its RTCP receiver reports stay right), unwrap RTX,
  feed the REMB estimator, and hand the packet to our producer instead of the jitter
  buffer and decoder. SRs from the publisher (``receiver._handle_rtcp_packet``) are passed
  on too.
* sending: ``RTCRtpSender._run_rtp`` pulls frames from a track and encodes them; we
  replace it with an idle coroutine and write packets ourselves through
  ``RTCDtlsTransport._send_rtp``. ``_run_rtcp`` would send sender reports with zero
  timestamps (nothing went through its counters), which would break lip sync, so it
  is replaced by one that sends only SDES and BYE; our consumer sends the SRs.
  ``_handle_rtcp_packet`` is wrapped so NACK, PLI, FIR and REMB reach the consumer.
* ICE: aioice leaves 127.0.0.1 out of host candidates and binds ephemeral ports; the
  addresses announced and the UDP port range are configuration.
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aioice.ice
import pylibsrtp
from aiortc import RTCRtpReceiver, RTCRtpSender
from aiortc.codecs import is_rtx
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcdtlstransport import State as _DtlsState
from aiortc.rtcrtpparameters import RTCRtpCodecParameters, RTCRtpSendParameters
from aiortc.rtcrtpreceiver import StreamStatistics
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    AnyRtcpPacket,
    HeaderExtensions,
    RtcpByePacket,
    RtcpPsfbPacket,
    RtcpRtpfbPacket,
    RtcpSdesPacket,
    RtcpSourceInfo,
    RtcpSrPacket,
    RtpPacket,
    pack_remb_fci,
)

from sfu.packet import ReceiveBandwidthEstimator, ReceivedRtp, parse_rtp
from sfu.srtp_fast import srtp_context

RtpSink = Callable[[ReceivedRtp, float], None]  # the packet, its arrival (time.monotonic())
RtcpSink = Callable[[AnyRtcpPacket], Awaitable[None]]
SenderReportSink = Callable[[RtcpSrPacket], Awaitable[None]]

_DTLS_CONNECTED = _DtlsState.CONNECTED
_RECEIVER = "_RTCRtpReceiver__"
_SENDER = "_RTCRtpSender__"
_SENDER_TRANSPORT = _SENDER + "transport"
_RECEIVER_RTCP_SSRC = _RECEIVER + "rtcp_ssrc"


class HookError(RuntimeError):
    """aiortc no longer looks the way these hooks expect (an upgrade changed it)."""


def _private(obj: object, prefix: str, name: str) -> Any:
    try:
        return getattr(obj, prefix + name)
    except AttributeError:
        raise HookError(f"aiortc private attribute {prefix}{name} is gone; check sfu/aiortc_hooks.py") from None


# ---------------------------------------------------------------- ICE


def configure_host_addresses(addresses: Sequence[str]) -> None:
    """Announce exactly these local addresses as ICE host candidates (process-wide)."""
    chosen = list(addresses)

    def get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        out = []
        for address in chosen:
            is_v6 = ":" in address
            if (is_v6 and use_ipv6) or (not is_v6 and use_ipv4):
                out.append(address)
        return out

    if not hasattr(aioice.ice, "get_host_addresses"):
        raise HookError("aioice.ice.get_host_addresses is gone; check sfu/aiortc_hooks.py")
    aioice.ice.get_host_addresses = get_host_addresses


def configure_port_range(port_min: int, port_max: int) -> None:
    """Bind ICE host candidates inside [port_min, port_max] (0, 0 = any port).

    aioice binds ``(address, 0)`` through ``asyncio.get_running_loop().create_datagram_endpoint``.
    We give the ``aioice.ice`` module (only it) an ``asyncio`` whose running loop binds
    datagram endpoints in the range and forwards everything else to the real loop.
    """
    if port_min == 0 and port_max == 0:
        setattr(aioice.ice, "asyncio", asyncio)  # noqa: B010
        return
    if not (1024 <= port_min <= port_max <= 65535):
        raise ValueError(f"UDP port range {port_min}-{port_max} is not within 1024-65535")
    setattr(aioice.ice, "asyncio", _AsyncioWithPortRange(port_min, port_max))  # noqa: B010


_ORIGINAL_ADD_REMOTE = aioice.ice.Connection._add_remote_candidate
_ORIGINAL_REQUEST_RECEIVED = aioice.ice.Connection.request_received
_ORIGINAL_DATAGRAM_RECEIVED = aioice.ice.StunProtocol.datagram_received


def _datagram_received(self: Any, data: Any, addr: tuple[Any, ...]) -> None:
    # A STUN message starts with two zero bits (RFC 7983: first byte 0-3); DTLS starts at
    # 20, RTP/RTCP at 128. aioice tries every datagram as STUN and passes it on when the
    # parse raises: same outcome, without a parse and an exception per media packet.
    if data and data[0] > 3:
        self.receiver.data_received(data, self.local_candidate.component)
    else:
        _ORIGINAL_DATAGRAM_RECEIVED(self, data, addr)


def configure_stun_fast_path(enabled: bool) -> None:
    """Hand non-STUN datagrams straight to the ICE connection (see ``_datagram_received``).

    Process-wide and for sockets opened afterwards (uvloop keeps the method it found when
    the socket opened); behaviour is unchanged, so aiortc peers in the same process (tests,
    the load tester) are unaffected. ``MediaServer`` turns it on and off again on close.
    """
    aioice.ice.StunProtocol.datagram_received = (  # type: ignore[method-assign,assignment]
        _datagram_received if enabled else _ORIGINAL_DATAGRAM_RECEIVED
    )


def configure_remote_networks(networks: Sequence[str]) -> None:
    """Only talk ICE to remote addresses inside these networks (empty: any address).

    Remote candidates outside them (from SDP or trickled) are ignored, and connectivity
    checks from outside are dropped, so no peer-reflexive candidate is learnt from them
    and nothing is ever sent there. Tests use it to keep every packet on loopback even
    when a browser offers the machine's other interfaces.
    """
    allowed = [ipaddress.ip_network(n, strict=False) for n in networks]
    if not allowed:
        aioice.ice.Connection._add_remote_candidate = _ORIGINAL_ADD_REMOTE  # type: ignore[method-assign]
        aioice.ice.Connection.request_received = _ORIGINAL_REQUEST_RECEIVED  # type: ignore[method-assign]
        return

    def permitted(host: str) -> bool:
        try:
            address = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return False
        return any(address in net for net in allowed)

    def add_remote_candidate(self: Any, candidate: Any, remote_addr: str) -> None:
        if permitted(remote_addr):
            _ORIGINAL_ADD_REMOTE(self, candidate, remote_addr)

    def request_received(self: Any, message: Any, addr: tuple[str, int], protocol: Any) -> None:
        if permitted(addr[0]):
            _ORIGINAL_REQUEST_RECEIVED(self, message, addr, protocol)

    aioice.ice.Connection._add_remote_candidate = add_remote_candidate  # type: ignore[method-assign,assignment]
    aioice.ice.Connection.request_received = request_received  # type: ignore[method-assign]


class _AsyncioWithPortRange:
    """The asyncio module as aioice.ice sees it when a port range is configured."""

    def __init__(self, port_min: int, port_max: int) -> None:
        self._range = (port_min, port_max)

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)

    def get_running_loop(self) -> Any:
        return _PortRangeLoop(asyncio.get_running_loop(), *self._range)


class _PortRangeLoop:
    """Forwards everything to the real loop, but binds datagram endpoints inside a range."""

    def __init__(self, loop: asyncio.AbstractEventLoop, port_min: int, port_max: int) -> None:
        self._loop = loop
        self._range = (port_min, port_max)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loop, name)

    async def create_datagram_endpoint(self, factory: Any, local_addr: Any = None, **kwargs: Any) -> Any:
        if local_addr is None or local_addr[1] != 0:
            return await self._loop.create_datagram_endpoint(factory, local_addr=local_addr, **kwargs)
        low, high = self._range
        ports = list(range(low, high + 1))
        random.shuffle(ports)
        for port in ports[:256]:
            try:
                return await self._loop.create_datagram_endpoint(
                    factory, local_addr=(local_addr[0], port), **kwargs
                )
            except OSError:
                continue
        raise OSError(f"no free UDP port in {low}-{high} on {local_addr[0]}")


# ---------------------------------------------------------------- receiving


class ReceiveStatistics(StreamStatistics):
    """aiortc's statistics of one received SSRC (its RTCP receiver reports read them), fed
    with the arrival time the fast path already read instead of a ``time.time()`` per packet.

    ``add_at`` does what ``StreamStatistics.add`` does, in one frame (``uint16_gt`` inlined);
    arrival times are monotonic seconds: only differences enter the jitter. Tested equal to
    ``add`` in tests/sfu/test_aiortc_hooks.py.
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


class _Route:
    """Where a DTLS transport's packets go: resolved once per nominated pair and SRTP session."""

    __slots__ = ("address", "pair", "protocol", "srtp", "srtp_session")

    def __init__(self, pair: Any, srtp_session: pylibsrtp.Session) -> None:
        self.pair = pair
        self.protocol = pair.protocol
        self.address = pair.remote_addr  # a property that builds a new tuple on every read
        self.srtp_session = srtp_session
        self.srtp = srtp_context(srtp_session)


def send_now(dtls: RTCDtlsTransport, data: bytes, *, rtcp: bool = False) -> bool:
    """SRTP-protect and write one packet to the nominated ICE pair, synchronously.

    aiortc's path is four nested coroutines (DTLS transport -> ICE transport -> aioice
    connection -> protocol) that end in one ``transport.sendto``; on the packet path,
    per subscriber, that chain was most of our cost. False (dropped) when not connected.
    """
    if dtls._state is not _DTLS_CONNECTED:
        return False
    pair = dtls._transport._connection._nominated.get(1)
    if pair is None:
        return False
    route: _Route | None = dtls.__dict__.get("_sfu_route")
    if route is None or route.pair is not pair or route.srtp_session is not dtls._tx_srtp:
        try:
            route = dtls._sfu_route = _Route(pair, dtls._tx_srtp)  # type: ignore[attr-defined]
        except (AttributeError, TypeError):
            return False
    try:
        protected = route.srtp_session.protect_rtcp(data) if rtcp else route.srtp.protect(data)
        route.protocol.transport.sendto(protected, route.address)
    except (pylibsrtp.Error, ValueError, AttributeError, OSError):
        return False
    return True


@dataclass
class ReceiverTap:
    """What a hooked receiver gives back: ways to send feedback upstream, synchronously."""

    receiver: RTCRtpReceiver

    def _rtcp_ssrc(self) -> int | None:
        ssrc: int | None = getattr(self.receiver, _RECEIVER + "rtcp_ssrc")
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
        return dict(_private(self.receiver, _RECEIVER, "codecs"))


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
    codecs: dict[int, RTCRtpCodecParameters] = _private(receiver, _RECEIVER, "codecs")
    rtx_ssrc: dict[int, int] = _private(receiver, _RECEIVER, "rtx_ssrc")
    # aiortc never fills it itself once its _handle_rtp_packet is replaced: only we do.
    remote_streams: dict[int, ReceiveStatistics] = _private(receiver, _RECEIVER, "remote_streams")
    # aiortc makes a REMB estimator for video receivers; ours gives the same answers for a
    # third of the cost per packet (sfu/packet/receive_bandwidth.py).
    video = _private(receiver, _RECEIVER, "remote_bitrate_estimator") is not None
    estimator = ReceiveBandwidthEstimator() if video else None
    # Per payload type: the codec seen, and for RTX its associated payload type (-1: an RTX
    # codec without a usable apt). Looked up again when renegotiation replaces the codec.
    kinds: dict[int, tuple[RTCRtpCodecParameters, int | None]] = {}
    original_rtcp = receiver._handle_rtcp_packet

    def send_remb(remb: tuple[int, list[int]]) -> None:
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
            await on_sender_report(packet)

    receiver._handle_rtp_packet = handle_rtp  # type: ignore[method-assign]
    receiver._handle_rtcp_packet = handle_rtcp  # type: ignore[method-assign]
    receiver._sfu_handle_rtp_now = handle_rtp_now  # type: ignore[attr-defined]
    install_fast_receive(receiver.transport)
    return ReceiverTap(receiver)


def install_fast_receive(dtls: RTCDtlsTransport) -> None:
    """Handle SRTP packets for hooked receivers as they come off the socket.

    aiortc queues every datagram (aioice ``Connection._queue``), and a task per DTLS
    transport takes it off, decrypts, parses and routes it: several task switches per
    packet, the largest cost of receiving. The RTP header is in clear text in SRTP, so
    we read the SSRC first; when it belongs to a receiver we hooked, we decrypt, parse
    and hand it over right here, synchronously. Everything else (DTLS, RTCP, unknown
    SSRCs, whose routing aiortc learns) takes aiortc's path unchanged. Idempotent.
    """
    if getattr(dtls, "_sfu_fast_receive", False):
        return
    connection = dtls.transport._connection
    original = connection.data_received
    router = dtls._rtp_router
    # The negotiated ids, updated in place by aiortc on every renegotiation.
    ids: HeaderExtensions = _private(dtls._rtp_header_extensions_map, "_HeaderExtensionsMap__", "ids")

    def data_received(data: bytes, component: int) -> None:
        if (
            len(data) >= 12
            and 127 < data[0] < 192
            and not 192 <= data[1] <= 208  # RTCP
            and dtls._state is _DTLS_CONNECTED
        ):
            receiver = router.ssrc_table.get(int.from_bytes(data[8:12], "big"))
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


# ---------------------------------------------------------------- sending


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


def take_over_sender(sender: RTCRtpSender, on_rtcp: RtcpSink) -> SenderHandle:
    """Stop aiortc from encoding or reporting for ``sender``; return a handle to write RTP."""
    handle = SenderHandle(sender, on_rtcp)
    rtp_started: asyncio.Event = _private(sender, _SENDER, "rtp_started")
    rtp_exited: asyncio.Event = _private(sender, _SENDER, "rtp_exited")
    rtcp_started: asyncio.Event = _private(sender, _SENDER, "rtcp_started")
    rtcp_exited: asyncio.Event = _private(sender, _SENDER, "rtcp_exited")
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
        if isinstance(packet, RtcpPsfbPacket | RtcpRtpfbPacket):
            await handle._on_rtcp(packet)
        else:
            await original_rtcp(packet)  # receiver reports: aiortc keeps RTT/loss stats

    sender.send = send  # type: ignore[method-assign]
    sender._run_rtp = run_rtp  # type: ignore[method-assign]
    sender._run_rtcp = run_rtcp  # type: ignore[method-assign]
    sender._handle_rtcp_packet = handle_rtcp  # type: ignore[method-assign]
    return handle


def sdes_packet(ssrc: int, cname: str) -> bytes:
    return bytes(RtcpSdesPacket(chunks=[RtcpSourceInfo(ssrc=ssrc, items=[(1, cname.encode("utf8"))])]))


# ---------------------------------------------------------------- negotiation state


def negotiated_codecs(transceiver: Any) -> list[RTCRtpCodecParameters]:
    """The codecs aiortc settled on for a transceiver after offer/answer."""
    codecs = getattr(transceiver, "_codecs", None)
    if codecs is None:
        raise HookError("RTCRtpTransceiver._codecs is gone; check sfu/aiortc_hooks.py")
    return list(codecs)


async def start_pending_transceivers(pc: Any) -> None:
    """Start senders/receivers that aiortc's connect pass missed.

    aiortc starts a transceiver's sender/receiver in ``RTCPeerConnection.__connect``,
    which runs once per description. A renegotiation that completes while an earlier
    connect is still establishing DTLS is skipped for its new transceivers (they are
    checked before their direction is final), leaving a sender that never sends.
    Calling this once the connection is up starts them; send()/receive() are no-ops
    for transceivers already started.
    """
    local_rtp = getattr(pc, "_RTCPeerConnection__localRtp", None)
    remote_rtp = getattr(pc, "_RTCPeerConnection__remoteRtp", None)
    if local_rtp is None or remote_rtp is None:
        raise HookError("RTCPeerConnection.__localRtp/__remoteRtp are gone; check sfu/aiortc_hooks.py")
    for transceiver in pc.getTransceivers():
        if transceiver.receiver.transport.state != "connected":
            continue
        direction = transceiver.currentDirection
        if direction in ("sendonly", "sendrecv"):
            await transceiver.sender.send(local_rtp(transceiver))
        if direction in ("recvonly", "sendrecv"):
            await transceiver.receiver.receive(remote_rtp(transceiver))
