"""Participant: one person's two peer connections and the tracks on them.

As in LiveKit, each participant has a *publish* connection (the client offers, we
answer; every incoming m-line becomes a :class:`Producer`) and a *subscribe*
connection (we offer, the client answers; every outgoing m-line is a
:class:`Consumer` of another participant's producer). Offers never cross, so there
is no glare to resolve, and a join or leave renegotiates only the subscribe
connections of the others.

Subscribe m-lines are recycled: when a consumer goes away its transceiver turns
inactive and waits in a pool for the next producer of the same kind and codec,
keeping its SSRC and sequence space, so SDPs don't grow with every join and leave.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiortc import (
    RTCBundlePolicy,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc import sdp as aiortc_sdp
from aiortc.exceptions import InternalError, InvalidAccessError, InvalidStateError
from aiortc.rtcrtptransceiver import RTCRtpTransceiver
from aiortc.sdp import candidate_from_sdp

from sfu.aiortc_hooks import (
    SenderHandle,
    hook_receiver,
    negotiated_codecs,
    sdes_packet,
    start_pending_transceivers,
    take_over_sender,
    use_shared_udp_port,
)
from sfu.config import SfuConfig
from sfu.consumer import Consumer
from sfu.errors import InvalidCandidate, InvalidSdp, NotFound, WrongState
from sfu.ids import ConsumerId, ParticipantId, ProducerId, RoomId, new_id
from sfu.kinds import MediaKind, TrackSource, default_source, is_media_kind
from sfu.latency_probe import LatencyProbe
from sfu.link_adaptation import LinkAdapter, LinkQuality, UplinkMonitor
from sfu.negotiation import codec_preferences
from sfu.packet.rewriter import LegRewriter
from sfu.producer import Producer
from sfu.stats import SfuCounters

logger = logging.getLogger(__name__)

# aiortc reports malformed SDP with any of these (AssertionError included).
_SDP_ERRORS = (
    ValueError,
    InternalError,
    InvalidAccessError,
    InvalidStateError,
    KeyError,
    IndexError,
    TypeError,
    AssertionError,
    AttributeError,
)
MAX_MEDIA_SECTIONS = 16


def check_publish_offer(sdp: str) -> None:
    """Refuse an offer aiortc would choke on, before it touches a connection."""
    try:
        description = aiortc_sdp.SessionDescription.parse(sdp)
    except _SDP_ERRORS as exc:
        raise InvalidSdp(f"field 'sdp' cannot be parsed as SDP ({type(exc).__name__}: {exc})") from None
    media = [m for m in description.media if m.kind in ("audio", "video")]
    if not media:
        raise InvalidSdp("field 'sdp' offers no audio or video section")
    if len(description.media) > MAX_MEDIA_SECTIONS:
        raise InvalidSdp(f"field 'sdp' has {len(description.media)} media sections; the limit is {MAX_MEDIA_SECTIONS}")
    for section in media:
        if section.ice is None or not section.ice.usernameFragment or section.dtls is None or not section.dtls.fingerprints:
            raise InvalidSdp(f"media section {section.rtp.muxId!r} lacks ICE credentials or a DTLS fingerprint")


def check_candidate_target(pc: RTCPeerConnection, sdp_mid: str | None, sdp_mline_index: int | None) -> None:
    """Refuse a candidate for a media section the negotiated description does not have.

    aiortc silently drops such a candidate; a client would never learn its mistake.
    """
    remote = pc.remoteDescription
    if remote is None:
        return
    media = aiortc_sdp.SessionDescription.parse(remote.sdp).media
    if sdp_mid is not None:
        mids = [section.rtp.muxId for section in media]
        if sdp_mid not in mids:
            raise InvalidCandidate(f"field 'candidate.sdpMid' {sdp_mid!r} is not a media section of this connection ({', '.join(mids)})")
    elif sdp_mline_index is not None and not 0 <= sdp_mline_index < len(media):
        raise InvalidCandidate(f"field 'candidate.sdpMLineIndex' {sdp_mline_index} is beyond the {len(media)} media sections")


@dataclass(frozen=True)
class PublishedTrack:
    """What the client said about an offered m-line."""

    mid: str
    source: TrackSource
    muted: bool = False


@dataclass
class _PooledLeg:
    transceiver: RTCRtpTransceiver
    handle: SenderHandle
    codec_mime: str
    rewriter: LegRewriter


@dataclass
class _Subscription:
    """A producer this participant receives: the producer, our leg of it, its m-line."""

    producer: Producer
    consumer: Consumer
    transceiver: RTCRtpTransceiver


@dataclass(frozen=True)
class ConsumerDescription:
    mid: str
    consumer_id: ConsumerId
    producer_id: ProducerId
    participant_id: ParticipantId
    kind: MediaKind
    source: TrackSource


class Participant:
    def __init__(
        self,
        *,
        room_id: RoomId,
        participant_id: ParticipantId,
        identity: str,
        name: str,
        role: str,
        config: SfuConfig,
        counters: SfuCounters,
        on_negotiation_needed: Callable[[Participant], None],
        on_stall_change: Callable[[Producer, bool], None],
        echo: bool = False,
        latency_probe: LatencyProbe | None = None,
        on_quality_change: Callable[[Participant, LinkQuality], None] | None = None,
        on_uplink_change: Callable[[Participant, str, int | None, tuple[ProducerId, ...]], None] | None = None,
    ) -> None:
        self.room_id = room_id
        self.id = participant_id
        self.identity = identity
        self.name = name
        self.role = role
        self.echo = echo
        self.closed = False
        self.joined_at = time.time()
        self.producers: dict[ProducerId, Producer] = {}
        self._config = config
        self._counters = counters
        self._on_negotiation_needed = on_negotiation_needed
        self._on_stall_change = on_stall_change
        self._latency_probe = latency_probe
        self._publish_pc: RTCPeerConnection | None = None
        self._subscribe_pc: RTCPeerConnection | None = None
        self._producer_by_mid: dict[str, Producer] = {}
        self._subscriptions: dict[ProducerId, _Subscription] = {}
        self._pool: list[_PooledLeg] = []
        self._negotiation_lock = asyncio.Lock()
        self._subscribe_dirty = False
        self._awaiting_answer = False
        self._on_quality_change = on_quality_change
        #: this participant's subscribe link: bandwidth estimate and per-leg choice (issue 15)
        self.link = LinkAdapter(config=config.renditions, counters=counters, on_quality=self._quality_changed)
        #: this participant's publish link: is its uplink what limits its video? (issue 15)
        self.uplink = UplinkMonitor(
            config=config.renditions,
            on_change=lambda state, bps, producers: (
                on_uplink_change(self, state, bps, producers) if on_uplink_change else None
            ),
        )

    def _quality_changed(self, quality: LinkQuality) -> None:
        if self._on_quality_change is not None:
            self._on_quality_change(self, quality)

    @property
    def consumers(self) -> dict[ProducerId, Consumer]:
        """Our legs, by the producer each carries."""
        return {producer_id: s.consumer for producer_id, s in self._subscriptions.items()}

    # ------------------------------------------------------------ connections

    def _new_pc(self) -> RTCPeerConnection:
        servers = [
            RTCIceServer(urls=list(s.urls), username=s.username, credential=s.credential)
            for s in self._config.ice.servers
        ]
        # max-bundle: aiortc's default "balanced" policy leaves a transceiver added
        # before the previous answer on an orphan transport that never connects.
        pc = RTCPeerConnection(RTCConfiguration(iceServers=servers, bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc.connectionState == "connected":
                await start_pending_transceivers(pc)

        return pc

    @property
    def publish_state(self) -> str:
        return self._publish_pc.connectionState if self._publish_pc else "new"

    @property
    def subscribe_state(self) -> str:
        return self._subscribe_pc.connectionState if self._subscribe_pc else "new"

    async def add_ice_candidate(self, pc_name: str, candidate: str | None, sdp_mid: str | None, sdp_mline_index: int | None) -> None:
        pc = self._publish_pc if pc_name == "publish" else self._subscribe_pc
        if pc is None or pc.remoteDescription is None:
            raise WrongState(f"no {pc_name} connection is being negotiated: send the offer/answer first")
        if not candidate:
            return  # end of candidates: aiortc needs no signal
        text = candidate[len("candidate:"):] if candidate.startswith("candidate:") else candidate
        try:
            parsed = candidate_from_sdp(text)
        except (ValueError, IndexError) as exc:
            raise InvalidSdp(f"field 'candidate.candidate' is not an ICE candidate: {exc}") from None
        parsed.sdpMid = sdp_mid
        parsed.sdpMLineIndex = sdp_mline_index
        if sdp_mid is None and sdp_mline_index is None:
            parsed.sdpMLineIndex = 0
        check_candidate_target(pc, parsed.sdpMid, parsed.sdpMLineIndex)  # aiortc ignores an unknown one
        try:
            await pc.addIceCandidate(parsed)
        except _SDP_ERRORS as exc:
            raise InvalidSdp(f"ICE candidate rejected: {exc}") from None

    # ------------------------------------------------------------ publishing

    async def handle_publish_offer(self, sdp: str, tracks: list[PublishedTrack]) -> tuple[str, list[Producer], list[Producer]]:
        """Apply the client's offer; returns (answer SDP, new producers, removed producers)."""
        if self.closed:
            raise WrongState("participant has left")
        check_publish_offer(sdp)
        if self._publish_pc is None:
            self._publish_pc = self._new_pc()
        pc = self._publish_pc
        if pc.signalingState != "stable":
            raise WrongState("a publish offer is already being answered")
        described = {t.mid: t for t in tracks}
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        except _SDP_ERRORS as exc:
            raise InvalidSdp(f"publish offer rejected: {exc or type(exc).__name__}") from None
        created: list[Producer] = []
        removed: list[Producer] = []
        for transceiver in pc.getTransceivers():
            mid = transceiver.mid
            if mid is None:
                continue
            existing = self._producer_by_mid.get(mid)
            offered = transceiver.direction in ("recvonly", "sendrecv") and not transceiver.stopped
            if existing is not None:
                if not offered:
                    removed.append(existing)
                continue
            if not offered:
                continue
            kind = transceiver.kind
            if not is_media_kind(kind):
                continue  # check_publish_offer let only audio and video through
            info = described.get(mid)
            source = info.source if info else default_source(kind)
            producer = Producer(
                producer_id=ProducerId(new_id("TR")),
                participant_id=self.id,
                kind=kind,
                source=source,
                config=self._config,
                counters=self._counters,
                on_stall_change=self._on_stall_change,
                latency_probe=self._latency_probe,
            )
            producer.set_muted(bool(info and info.muted))
            codecs = [c for c in negotiated_codecs(transceiver) if c.mimeType.lower() != "video/rtx"]
            if codecs:
                producer.set_codec(codecs[0])  # keyframe parsers ready before packets
            tap = hook_receiver(transceiver.receiver, producer.on_rtp, producer.on_sender_report)
            producer.attach_receiver(tap)
            self.uplink.watch(producer, tap)
            self._producer_by_mid[mid] = producer
            self.producers[producer.id] = producer
            created.append(producer)
        try:
            answer = await pc.createAnswer()
            use_shared_udp_port(pc)  # gathering happens in setLocalDescription
            await pc.setLocalDescription(answer)
        except _SDP_ERRORS as exc:
            raise InvalidSdp(f"cannot answer the publish offer: {exc}") from None
        if pc.connectionState == "connected":
            await start_pending_transceivers(pc)
        for producer in created:
            # codecs are final once the answer is set
            for transceiver in pc.getTransceivers():
                if self._producer_by_mid.get(transceiver.mid or "") is producer:
                    codecs = [c for c in negotiated_codecs(transceiver) if c.mimeType.lower() != "video/rtx"]
                    if codecs:
                        producer.set_codec(codecs[0])
        return pc.localDescription.sdp, created, removed

    async def remove_producer(self, producer_id: ProducerId) -> Producer:
        producer = self.producers.pop(producer_id, None)
        if producer is None:
            raise NotFound(f"producer {producer_id!r} is not published by this participant")
        self.uplink.forget(producer_id)
        for mid, p in list(self._producer_by_mid.items()):
            if p is producer:
                del self._producer_by_mid[mid]
        await producer.close()
        return producer

    # ------------------------------------------------------------ subscribing

    def add_consumer(self, producer: Producer, now: float) -> Consumer | None:
        """Start receiving ``producer`` (takes effect with the next subscribe offer)."""
        if self.closed or producer.id in self._subscriptions or producer.codec is None:
            return None
        if self._subscribe_pc is None:
            self._subscribe_pc = self._new_pc()
        pc = self._subscribe_pc
        mime = producer.codec.mimeType.lower()
        pooled = next((leg for leg in self._pool if leg.codec_mime == mime), None)
        if pooled is not None:
            self._pool.remove(pooled)
            transceiver, handle, rewriter = pooled.transceiver, pooled.handle, pooled.rewriter
            transceiver.direction = "sendonly"
        else:
            transceiver = pc.addTransceiver(producer.kind, direction="sendonly")
            capabilities = RTCRtpSender.getCapabilities(producer.kind).codecs
            transceiver.setCodecPreferences(codec_preferences(producer.codec, capabilities))
            handle = take_over_sender(transceiver.sender, _ignore_rtcp)
            rewriter = None
        consumer = Consumer(
            consumer_id=ConsumerId(new_id("CO")),
            subscriber_id=self.id,
            track=producer,
            handle=handle,
            cache_packets=self._config.nack_cache_packets,
            counters=self._counters,
            rewriter=rewriter,
        )
        self._subscriptions[producer.id] = _Subscription(producer, consumer, transceiver)
        producer.sources.attach(consumer, now)
        self.link.watch(consumer, producer)
        self._mark_dirty()
        return consumer

    def remove_consumer(self, producer_id: ProducerId, now: float) -> None:
        subscription = self._subscriptions.pop(producer_id, None)
        if subscription is None:
            return
        consumer, producer, transceiver = subscription.consumer, subscription.producer, subscription.transceiver
        producer.sources.detach(consumer, now)
        self.link.forget(consumer)
        consumer.close()
        transceiver.direction = "inactive"
        codec_mime = producer.codec.mimeType.lower() if producer.codec else ""
        self._pool.append(_PooledLeg(transceiver, consumer.handle, codec_mime, consumer.rewriter))
        self._mark_dirty()

    def _mark_dirty(self) -> None:
        self._subscribe_dirty = True
        if not self._awaiting_answer:
            self._on_negotiation_needed(self)

    async def create_subscribe_offer(self) -> tuple[str, list[ConsumerDescription]] | None:
        """The next subscribe offer, or None when nothing changed or an answer is awaited."""
        async with self._negotiation_lock:
            pc = self._subscribe_pc
            if self.closed or pc is None or not self._subscribe_dirty or self._awaiting_answer:
                return None
            if pc.signalingState != "stable":
                return None
            self._subscribe_dirty = False
            offer = await pc.createOffer()
            use_shared_udp_port(pc)  # gathering happens in setLocalDescription
            await pc.setLocalDescription(offer)
            self._awaiting_answer = True
            return pc.localDescription.sdp, self.describe_consumers()

    async def handle_subscribe_answer(self, sdp: str) -> None:
        async with self._negotiation_lock:
            pc = self._subscribe_pc
            if pc is None or not self._awaiting_answer or pc.signalingState != "have-local-offer":
                raise WrongState("no subscribe offer is waiting for an answer")
            try:
                aiortc_sdp.SessionDescription.parse(sdp)
                await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
            except _SDP_ERRORS as exc:
                raise InvalidSdp(f"subscribe answer rejected: {exc or type(exc).__name__}") from None
            self._awaiting_answer = False
            if pc.connectionState == "connected":
                await start_pending_transceivers(pc)
        if self._subscribe_dirty:
            self._on_negotiation_needed(self)

    def describe_consumers(self) -> list[ConsumerDescription]:
        out = []
        for producer_id, subscription in self._subscriptions.items():
            mid = subscription.transceiver.mid
            if mid is None:
                continue
            producer = subscription.producer
            out.append(
                ConsumerDescription(
                    mid=mid,
                    consumer_id=subscription.consumer.id,
                    producer_id=producer_id,
                    participant_id=producer.participant_id,
                    kind=producer.kind,
                    source=producer.source,
                )
            )
        return out

    # ------------------------------------------------------------ timers

    async def ensure_legs_started(self) -> None:
        """Safety net, once a second: a connected subscribe connection with a leg whose
        sender never started (an aiortc connect pass that missed it) gets it started."""
        pc = self._subscribe_pc
        if pc is None or pc.connectionState != "connected" or self._awaiting_answer:
            return
        if any(c.handle.parameters is None for c in self.consumers.values()):
            await start_pending_transceivers(pc)

    async def send_sender_reports(self, now_unix: float, now: float) -> None:
        """Every leg's SR at wall time ``now_unix`` (monotonic ``now``)."""
        for consumer in list(self.consumers.values()):
            report = consumer.sender_report(now_unix, now)
            if report is None:
                continue
            params = consumer.handle.parameters
            if params is not None and params.cname:
                report += sdes_packet(consumer.handle.ssrc, params.cname)
            await consumer.handle.send_rtp(report)

    # ------------------------------------------------------------ lifecycle

    async def close(self, now: float) -> list[Producer]:
        """Idempotent: closes consumers, producers and both connections; returns the producers."""
        if self.closed:
            return []
        self.closed = True
        for subscription in self._subscriptions.values():
            subscription.producer.sources.detach(subscription.consumer, now)
            self.link.forget(subscription.consumer)
            subscription.consumer.close()
        self._subscriptions.clear()
        self._pool.clear()
        producers = list(self.producers.values())
        self.producers.clear()
        for producer in producers:
            await producer.close()
        for pc in (self._publish_pc, self._subscribe_pc):
            if pc is not None:
                await pc.close()
        self._publish_pc = self._subscribe_pc = None
        return producers

    def dump(self) -> dict[str, object]:
        return {
            "id": self.id,
            "identity": self.identity,
            "name": self.name,
            "role": self.role,
            "publish": self.publish_state,
            "subscribe": self.subscribe_state,
            "producers": [p.dump() for p in self.producers.values()],
            "consumers": [c.dump() for c in self.consumers.values()],
            "pooled_legs": len(self._pool),
            "link": self.link.dump(time.monotonic()),
        }


async def _ignore_rtcp(packet: object, now: float) -> None:
    """Feedback for a leg before its consumer exists (or after it left the pool)."""
