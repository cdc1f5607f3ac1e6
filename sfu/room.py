"""Room: who is in it, and which producer goes to which participant.

Routing rule: every participant receives every other participant's producers (and,
in an echo room used by the network test, its own). A room owns one ticker task for
its timer work (throttled keyframe requests, NACK retries, camera-stall detection,
idle renditions, sender reports); closing the room cancels and awaits it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from sfu.config import SfuConfig
from sfu.errors import NotFound, WrongState
from sfu.events import (
    CameraStalled,
    LinkQualityChanged,
    ParticipantJoined,
    ParticipantLeft,
    ResolutionRequestChanged,
    RoomClosed,
    RoomEvent,
    RoomListener,
    TrackMuted,
    TrackPublished,
    TrackUnpublished,
    UplinkQualityChanged,
)
from sfu.ids import ParticipantId, ProducerId, RoomId
from sfu.latency_probe import LatencyProbe
from sfu.link_adaptation import LinkQuality
from sfu.participant import Participant, PublishedTrack
from sfu.preference import Preference
from sfu.producer import Producer
from sfu.stats import SfuCounters
from sfu.taps import AudioTap
from sfu.transform import FrameTransform

logger = logging.getLogger(__name__)

TICK_S = 0.05


class Room:
    def __init__(
        self,
        room_id: RoomId,
        config: SfuConfig,
        counters: SfuCounters,
        on_empty: Callable[[Room], None],
        *,
        echo: bool = False,
        latency_probe: LatencyProbe | None = None,
    ) -> None:
        self.id = room_id
        self.echo = echo
        self.closed = False
        self.created_at = time.time()
        self.participants: dict[ParticipantId, Participant] = {}
        self._config = config
        self._counters = counters
        self._on_empty = on_empty
        self._latency_probe = latency_probe
        self._listeners: set[RoomListener] = set()
        self._negotiation_listeners: dict[ParticipantId, Callable[[Participant], None]] = {}
        self._ticker: asyncio.Task[None] | None = None
        self._last_reports = 0.0

    # ------------------------------------------------------------ listeners

    def subscribe(self, listener: RoomListener) -> None:
        self._listeners.add(listener)

    def unsubscribe(self, listener: RoomListener) -> None:
        self._listeners.discard(listener)

    def _emit(self, event: RoomEvent) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # one broken listener must not stop the others
                logger.exception("room listener failed on %s", type(event).__name__)

    # ------------------------------------------------------------ membership

    def join(
        self,
        participant_id: ParticipantId,
        *,
        identity: str,
        name: str,
        role: str,
        on_negotiation_needed: Callable[[Participant], None],
    ) -> Participant:
        if self.closed:
            raise WrongState(f"room {self.id!r} is closed")
        if participant_id in self.participants:
            raise WrongState(f"participant {participant_id!r} is already in the room")
        participant = Participant(
            room_id=self.id,
            participant_id=participant_id,
            identity=identity,
            name=name,
            role=role,
            config=self._config,
            counters=self._counters,
            on_negotiation_needed=on_negotiation_needed,
            on_stall_change=self._on_stall_change,
            echo=self.echo,
            latency_probe=self._latency_probe,
            on_quality_change=self._on_quality_change,
            on_uplink_change=self._on_uplink_change,
        )
        self.participants[participant_id] = participant
        self._ensure_ticker()
        self._emit(ParticipantJoined(self.id, participant_id, identity, name, role))
        # The newcomer receives what is already published.
        now = time.monotonic()
        for other in self.participants.values():
            if other is participant and not self.echo:
                continue
            for producer in other.producers.values():
                participant.add_consumer(producer, now)
        return participant

    async def leave(self, participant_id: ParticipantId, reason: str = "left") -> None:
        participant = self.participants.pop(participant_id, None)
        if participant is None:
            return
        now = time.monotonic()
        for producer in list(participant.producers.values()):
            self._unroute(producer, now)
        producers = await participant.close(now)
        for producer in producers:
            self._emit(TrackUnpublished(self.id, producer.id, participant_id))
        self._emit(ParticipantLeft(self.id, participant_id, reason))
        if not self.participants:
            self._on_empty(self)

    def get(self, participant_id: ParticipantId) -> Participant:
        participant = self.participants.get(participant_id)
        if participant is None:
            raise NotFound(f"participant {participant_id!r} is not in room {self.id!r}")
        return participant

    # ------------------------------------------------------------ publishing

    async def publish(self, participant_id: ParticipantId, sdp: str, tracks: list[PublishedTrack]) -> tuple[str, list[Producer]]:
        participant = self.get(participant_id)
        answer, created, removed = await participant.handle_publish_offer(sdp, tracks)
        for producer in removed:
            await self.unpublish(participant_id, producer.id)
        now = time.monotonic()
        for producer in created:
            self._route(producer, now)
            self._emit(TrackPublished(self.id, producer.describe()))
        return answer, created

    async def unpublish(self, participant_id: ParticipantId, producer_id: ProducerId) -> None:
        participant = self.get(participant_id)
        producer = participant.producers.get(producer_id)
        if producer is None:
            raise NotFound(f"producer {producer_id!r} is not published by you")
        self._unroute(producer, time.monotonic())
        await participant.remove_producer(producer_id)
        self._emit(TrackUnpublished(self.id, producer_id, participant_id))

    def _route(self, producer: Producer, now: float) -> None:
        for participant in self.participants.values():
            if participant.id == producer.participant_id and not self.echo:
                continue
            participant.add_consumer(producer, now)

    def _unroute(self, producer: Producer, now: float) -> None:
        for participant in self.participants.values():
            participant.remove_consumer(producer.id, now)

    def add_leg(self, participant_id: ParticipantId, producer_id: ProducerId) -> bool:
        """Let a participant receive a track beyond the routing rule (e.g. its own camera as
        processed by the server: the effects' self view). True when a new leg was made."""
        producer = self.find_producer(producer_id)
        return self.get(participant_id).add_consumer(producer, time.monotonic()) is not None

    def remove_leg(self, participant_id: ParticipantId, producer_id: ProducerId) -> None:
        """Stop a leg made by :meth:`add_leg` (unknown legs are ignored)."""
        self.get(participant_id).remove_consumer(producer_id, time.monotonic())

    def find_producer(self, producer_id: ProducerId) -> Producer:
        for participant in self.participants.values():
            producer = participant.producers.get(producer_id)
            if producer is not None:
                return producer
        raise NotFound(f"no track {producer_id!r} in room {self.id!r}")

    def set_muted(self, participant_id: ParticipantId, producer_id: ProducerId, muted: bool) -> None:
        producer = self.get(participant_id).producers.get(producer_id)
        if producer is None:
            raise NotFound(f"producer {producer_id!r} is not published by you")
        if producer.muted != muted:
            producer.set_muted(muted)
            self._emit(TrackMuted(self.id, producer_id, participant_id, muted))

    def set_preference(self, participant_id: ParticipantId, producer_id: ProducerId, preference: Preference) -> None:
        """A subscriber's cap or pause for one track it receives: straight to the track's producer,
        whose source selector decides the leg's source (docs/architecture.md walks it)."""
        consumer = self.get(participant_id).consumers.get(producer_id)
        if consumer is None:
            raise NotFound(f"you do not receive a track {producer_id!r}")
        self.find_producer(producer_id).sources.set_preference(consumer, preference, time.monotonic())

    def set_transform(self, producer_id: ProducerId, transform: FrameTransform | None) -> None:
        self.find_producer(producer_id).set_transform(transform)

    def transform_of(self, producer_id: ProducerId) -> FrameTransform | None:
        """The frame transform applied to a track (None: none)."""
        return self.find_producer(producer_id).transform

    def add_audio_tap(self, producer_id: ProducerId, tap: AudioTap) -> None:
        producer = self.find_producer(producer_id)
        if producer.kind != "audio":
            raise WrongState(f"track {producer_id!r} is not audio")
        producer.taps.add(tap)

    def remove_audio_tap(self, producer_id: ProducerId, tap: AudioTap) -> None:
        with contextlib.suppress(NotFound):
            self.find_producer(producer_id).taps.discard(tap)

    def _on_quality_change(self, participant: Participant, quality: LinkQuality) -> None:
        self._emit(
            LinkQualityChanged(
                self.id, participant.id, quality.state, quality.estimate_bps, quality.reduced, quality.paused
            )
        )

    def _on_uplink_change(
        self, participant: Participant, state: str, estimate_bps: int | None, producers: tuple[ProducerId, ...]
    ) -> None:
        self._emit(
            UplinkQualityChanged(self.id, participant.id, "limited" if state == "limited" else "good", estimate_bps, producers)
        )

    def _on_stall_change(self, producer: Producer, stalled: bool) -> None:
        self._emit(CameraStalled(self.id, producer.id, producer.participant_id, resolved=not stalled))

    # ------------------------------------------------------------ timers

    def _ensure_ticker(self) -> None:
        if self._ticker is None and not self.closed:
            self._ticker = asyncio.create_task(self._tick_forever(), name=f"room-{self.id}")

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            now = time.monotonic()
            try:
                for participant in list(self.participants.values()):
                    for producer in list(participant.producers.values()):
                        await producer.tick(now)
                if self._config.adaptation:
                    for participant in list(self.participants.values()):
                        participant.link.tick(now)  # after the producers: limits apply at once
                        participant.uplink.tick(now)
                        for producer in list(participant.producers.values()):
                            request = producer.upstream_request(now)
                            if request is not None:
                                self._emit(ResolutionRequestChanged(self.id, participant.id, producer.id, request.max_height))
                if now - self._last_reports >= self._config.sender_report_interval_s:
                    self._last_reports = now
                    wall = time.time()
                    for participant in list(self.participants.values()):
                        await participant.send_sender_reports(wall, now)
                        await participant.ensure_legs_started()
            except Exception:  # keep ticking: a bad tick must not freeze the room
                logger.exception("room %s tick failed", self.id)

    # ------------------------------------------------------------ lifecycle

    async def close(self, reason: str = "ended") -> None:
        """Idempotent: everyone leaves, the ticker stops, listeners hear RoomClosed."""
        if self.closed:
            return
        self.closed = True
        for participant_id in list(self.participants):
            await self.leave(participant_id, reason)
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        self._emit(RoomClosed(self.id))
        self._listeners.clear()

    def dump(self) -> dict[str, object]:
        return {
            "id": self.id,
            "echo": self.echo,
            "participants": [p.dump() for p in self.participants.values()],
        }
