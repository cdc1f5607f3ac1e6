"""Events a room publishes to whoever listens (signalling sessions, the control plane).

Past-tense dataclasses; listeners are plain callables invoked on the event loop and
must not block (a session puts them on its bounded outgoing queue).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TypeAlias

from sfu.ids import ParticipantId, ProducerId, RoomId
from sfu.kinds import MediaKind, TrackSource


@dataclass(frozen=True)
class ProducerDescription:
    producer_id: ProducerId
    participant_id: ParticipantId
    kind: MediaKind
    source: TrackSource
    muted: bool
    width: int | None
    height: int | None


@dataclass(frozen=True)
class ParticipantJoined:
    room_id: RoomId
    participant_id: ParticipantId
    identity: str
    name: str
    role: str


@dataclass(frozen=True)
class ParticipantLeft:
    room_id: RoomId
    participant_id: ParticipantId
    reason: str


@dataclass(frozen=True)
class TrackPublished:
    room_id: RoomId
    producer: ProducerDescription


@dataclass(frozen=True)
class TrackUnpublished:
    room_id: RoomId
    producer_id: ProducerId
    participant_id: ParticipantId


@dataclass(frozen=True)
class TrackMuted:
    room_id: RoomId
    producer_id: ProducerId
    participant_id: ParticipantId
    muted: bool


@dataclass(frozen=True)
class CameraStalled:
    """A publisher's camera delivered no frame for a while (``resolved`` when it is back)."""

    room_id: RoomId
    producer_id: ProducerId
    participant_id: ParticipantId
    resolved: bool


LinkState: TypeAlias = Literal["good", "reduced", "paused"]


@dataclass(frozen=True)
class LinkQualityChanged:
    """What a subscriber's link carries changed (issue 15): every video at its best ("good"),
    some at a lower resolution ("reduced"), or some paused to keep audio ("paused")."""

    room_id: RoomId
    participant_id: ParticipantId
    state: LinkState
    estimate_bps: int | None
    reduced: tuple[ProducerId, ...]
    paused: tuple[ProducerId, ...]


@dataclass(frozen=True)
class UplinkQualityChanged:
    """A publisher's uplink became the bottleneck of its video ("limited": what we receive from
    it stays well below what its picture needs) or is fine again ("good") (issue 15)."""

    room_id: RoomId
    participant_id: ParticipantId
    state: Literal["good", "limited"]
    estimate_bps: int | None
    producers: tuple[ProducerId, ...]


@dataclass(frozen=True)
class ResolutionRequestChanged:
    """Every subscriber of a video is capped below what its publisher sends (issue 15): ask the
    publisher for at most ``max_height``; None: its full size again."""

    room_id: RoomId
    participant_id: ParticipantId
    producer_id: ProducerId
    max_height: int | None


@dataclass(frozen=True)
class RoomClosed:
    room_id: RoomId


RoomEvent = (
    ParticipantJoined
    | ParticipantLeft
    | TrackPublished
    | TrackUnpublished
    | TrackMuted
    | CameraStalled
    | RoomClosed
    | LinkQualityChanged
    | UplinkQualityChanged
    | ResolutionRequestChanged
)
RoomListener = Callable[[RoomEvent], None]
