"""The control plane's entities as plain dataclasses, with dict (msgpack-friendly) round trips.

A :class:`Room` is the aggregate: its schedule, settings, who is present (waiting or in
the consultation), who was admitted, its announcements and, for walk-in rooms, the
practitioner's availability. Every state change is a pure function on a Room
(:mod:`control.domain.rules`) run atomically by the store.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class RoomKind(StrEnum):
    APPOINTMENT = "appointment"
    QUICK = "quick"
    WALK_IN = "walk_in"


class RoomState(StrEnum):
    SCHEDULED = "scheduled"  # created, consultation not started yet
    STARTED = "started"  # a client was admitted, it was forced, or a quick room was entered
    ENDED = "ended"


class WaitingStatus(StrEnum):
    ON_TIME = "on_time"  # arrived no later than the appointment's start
    LATE = "late"  # arrived after it
    WALK_IN = "walk_in"  # a walk-in visitor
    WAITING_FOR_CLIENT = "waiting_for_client"  # a guest of a group appointment, client not in yet


class PresenceState(StrEnum):
    WAITING = "waiting"
    IN_CONSULTATION = "in_consultation"


DEFAULT_WINDOW_BEFORE_S = 3600.0
DEFAULT_WINDOW_AFTER_S = 3600.0


@dataclass
class Person:
    identity: str
    name: str | None = None


@dataclass
class RoomSettings:
    """Organisation policies the media plane and the browser honour for this room.

    ``chat_retention``: what happens to the chat transcript at the end, overriding the
    organisation's :attr:`OrgSettings.chat_retention` (None: the organisation's). It
    replaced the boolean ``chat_deleted_after`` (True = ``delete``, False = ``hand_over``),
    which stored rooms and API requests may still carry (:func:`room_settings_from_dict`,
    control/domain/requests.py).
    """

    resolution_change_allowed: bool = True
    background_effects_allowed: bool = True
    effects_ask_again: bool = False
    captions_allowed: bool = True
    chat_retention: str | None = None
    post_consultation_message: str = ""


#: What happens to a consultation's chat transcript when it ends: deleted, or handed to the
#: organisation's webhook (``chat_transcript``) and then deleted.
CHAT_RETENTIONS = ("delete", "hand_over")


@dataclass
class Presence:
    """A connected participant: waiting in the waiting room or inside the consultation."""

    participant_id: str
    identity: str
    name: str
    role: str
    state: PresenceState
    since: float
    status: WaitingStatus | None = None  # set while waiting
    waiting_since: float | None = None


@dataclass
class Announcement:
    id: str
    text: str
    created_at: float
    expires_at: float | None = None

    def visible(self, now: float) -> bool:
        """Expired announcements stay stored but are no longer shown."""
        return self.expires_at is None or now < self.expires_at


@dataclass
class Room:
    id: str
    org: str
    kind: RoomKind
    starts_at: float
    ends_at: float
    opens_at: float
    closes_at: float
    created_at: float
    department: str | None = None
    practitioner: Person | None = None
    client: Person | None = None
    guests: list[Person] = field(default_factory=list)
    settings: RoomSettings = field(default_factory=RoomSettings)
    state: RoomState = RoomState.SCHEDULED
    started_at: float | None = None
    ended_at: float | None = None
    forced: bool = False
    available: bool = False  # walk-in rooms: the practitioner is available now
    available_since: float | None = None
    present: dict[str, Presence] = field(default_factory=dict)
    admitted: list[str] = field(default_factory=list)  # identities let in (reconnects skip the queue)
    announcements: list[Announcement] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def duration_s(self) -> float | None:
        if self.started_at is None or self.ended_at is None:
            return None
        return max(0.0, self.ended_at - self.started_at)

    def waiting(self) -> list[Presence]:
        entries = [p for p in self.present.values() if p.state is PresenceState.WAITING]
        return sorted(entries, key=lambda p: (p.waiting_since or p.since, p.participant_id))

    def in_consultation(self) -> list[Presence]:
        return [p for p in self.present.values() if p.state is PresenceState.IN_CONSULTATION]


@dataclass
class Department:
    """Per (organisation, department) data: its announcements."""

    org: str
    name: str
    announcements: list[Announcement] = field(default_factory=list)


@dataclass
class OrgSettings:
    org: str
    webhook_urls: list[str] = field(default_factory=list)
    webhook_secret: str | None = None
    #: the secret before the last rotation: deliveries carry its signature too until webhook_previous_until
    webhook_previous_secret: str | None = None
    webhook_previous_until: float = 0.0
    #: the organisation's chat retention (rooms may override it): delete or hand_over
    chat_retention: str = "delete"


@dataclass
class ApiKeyRecord:
    """What is stored for an API key: never the key itself, only its hash."""

    key_id: str
    org: str
    department: str | None
    hash: str
    created_at: float


# ---------------------------------------------------------------- dict round trips


def to_dict(obj: Any) -> dict[str, Any]:
    return dataclasses.asdict(obj)


def _person(data: Any) -> Person | None:
    return None if data is None else Person(**data)


def _announcement(data: dict[str, Any]) -> Announcement:
    return Announcement(**data)


def room_from_dict(data: dict[str, Any]) -> Room:
    values = dict(data)
    values["kind"] = RoomKind(values["kind"])
    values["state"] = RoomState(values["state"])
    values["practitioner"] = _person(values.get("practitioner"))
    values["client"] = _person(values.get("client"))
    values["guests"] = [Person(**g) for g in values.get("guests", [])]
    values["settings"] = room_settings_from_dict(values.get("settings", {}))
    values["announcements"] = [_announcement(a) for a in values.get("announcements", [])]
    present = {}
    for pid, p in values.get("present", {}).items():
        p = dict(p)
        p["state"] = PresenceState(p["state"])
        p["status"] = None if p.get("status") is None else WaitingStatus(p["status"])
        present[pid] = Presence(**p)
    values["present"] = present
    return Room(**values)


def room_settings_from_dict(data: dict[str, Any]) -> RoomSettings:
    """Settings as stored, including rooms stored before ``chat_retention`` existed."""
    values = dict(data)
    deleted_after = values.pop("chat_deleted_after", None)
    if isinstance(deleted_after, bool) and values.get("chat_retention") is None:
        values["chat_retention"] = "delete" if deleted_after else "hand_over"
    return RoomSettings(**values)


def department_from_dict(data: dict[str, Any]) -> Department:
    values = dict(data)
    values["announcements"] = [_announcement(a) for a in values.get("announcements", [])]
    return Department(**values)


def org_from_dict(data: dict[str, Any]) -> OrgSettings:
    return OrgSettings(**data)


def apikey_from_dict(data: dict[str, Any]) -> ApiKeyRecord:
    return ApiKeyRecord(**data)
