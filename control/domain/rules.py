"""The waiting-room rules, as pure functions on a :class:`Room` with ``now`` passed in.

Each function mutates the room it is given and returns the :class:`Event` list the
change produced; the store runs it inside one atomic read-modify-write, so two
practitioners admitting the same client at once admit them once (the second sees
``not_waiting``).

Rules (from the clinic platform's manual):

* Access window: joining is allowed from ``opens_at`` (default start - 1 h) to
  ``closes_at`` (default end + 1 h); outside it the join is refused with ``too_early``
  (and the opening time) or ``too_late``, at connect and at every reconnect.
* Practitioners and department managers enter directly; their presence is the
  "practitioner status" waiting clients see.
* Appointment: a client waits (``on_time`` if arriving no later than the start,
  ``late`` after it) until admitted or denied. Once the consultation runs (a client
  was admitted, or it was *forced*), a client arriving later enters at once; a client
  admitted once re-enters directly after a reconnect.
* Group appointment: a guest waits with ``waiting_for_client`` until a client is
  inside the consultation, then enters automatically (also when already waiting).
* Quick consultation: no waiting room; the first arrival starts it.
* Walk-in room (a practitioner's walk-in hours): visitors queue as ``walk_in`` and
  are admitted one by one; a running walk-in room does not let the next visitor skip
  the queue.
* A participant whose token was issued while the consultation was running (invited
  during the call) enters directly; a guest of a force-started consultation still waits
  for the client.
* Ending records start, end and duration and empties the room.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from control.domain.errors import Conflict, NotFound
from control.domain.model import (
    Announcement,
    Presence,
    PresenceState,
    Room,
    RoomKind,
    RoomState,
    WaitingStatus,
)
from control.domain.roles import HOST_ROLES

# Events sent to webhooks (the others only drive live screens).
WEBHOOK_EVENTS = frozenset(
    {
        "room_created",
        "participant_waiting",
        "participant_admitted",
        "participant_denied",
        "participant_joined",
        "participant_left",
        "consultation_started",
        "consultation_ended",
        "camera_problem",
        "chat_transcript",
    }
)
QUEUE_CHANGED = "queue_changed"
ANNOUNCEMENTS_CHANGED = "announcements_changed"
AVAILABILITY_CHANGED = "availability_changed"


@dataclass(frozen=True)
class Event:
    """Something that happened to a room (past tense). ``data`` is JSON-ready."""

    name: str
    org: str
    room: str | None
    at: float
    department: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "org": self.org,
            "room": self.room,
            "at": self.at,
            "department": self.department,
            "data": self.data,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Event:
        return cls(
            name=data["name"],
            org=data["org"],
            room=data.get("room"),
            at=data["at"],
            department=data.get("department"),
            data=dict(data.get("data") or {}),
        )


def room_event(room: Room, event_name: str, now: float, /, **data: Any) -> Event:
    return Event(name=event_name, org=room.org, room=room.id, at=now, department=room.department, data=data)


@dataclass(frozen=True)
class Joiner:
    """Who is connecting, from their verified join token."""

    identity: str
    name: str
    role: str
    invited_during_call: bool = False


@dataclass(frozen=True)
class JoinResult:
    """``admit``: straight into the consultation; ``wait``: waiting room; ``refuse``: closed."""

    outcome: str
    reason: str | None = None
    message: str | None = None
    opens_at: float | None = None
    status: WaitingStatus | None = None


def refusal(room: Room | None, now: float) -> JoinResult | None:
    """The access-window check applied at every connect and reconnect."""
    if room is None:
        return JoinResult("refuse", "not_found", "this consultation does not exist")
    if room.state is RoomState.ENDED:
        return JoinResult("refuse", "room_ended", "this consultation has ended")
    if now < room.opens_at:
        return JoinResult(
            "refuse", "too_early", "it is too early to join this consultation", opens_at=room.opens_at
        )
    if now > room.closes_at:
        return JoinResult("refuse", "too_late", "it is too late to join this consultation")
    return None


def arrival_status(room: Room, now: float) -> WaitingStatus:
    if room.kind is RoomKind.WALK_IN:
        return WaitingStatus.WALK_IN
    return WaitingStatus.ON_TIME if now <= room.starts_at else WaitingStatus.LATE


def client_inside(room: Room) -> bool:
    return any(p.role == "client" for p in room.in_consultation())


def practitioner_status(room: Room) -> str:
    """What a waiting client sees: offline, online (connected) or in_consultation."""
    hosts = [p for p in room.present.values() if p.role in HOST_ROLES]
    if not hosts:
        return "offline"
    busy = room.state is RoomState.STARTED and any(
        p.role not in HOST_ROLES for p in room.in_consultation()
    )
    return "in_consultation" if busy else "online"


def _start(room: Room, now: float, *, forced: bool, events: list[Event]) -> None:
    if room.state is not RoomState.SCHEDULED:
        return
    room.state = RoomState.STARTED
    room.started_at = now
    room.forced = forced
    events.append(room_event(room, "consultation_started", now, forced=forced, started_at=now))


def _enter(room: Room, presence: Presence, now: float, events: list[Event], *, resumed: bool = False) -> None:
    presence.state = PresenceState.IN_CONSULTATION
    presence.status = None
    if presence.identity not in room.admitted and presence.role not in HOST_ROLES:
        room.admitted.append(presence.identity)
    events.append(
        room_event(
            room,
            "participant_joined",
            now,
            participant_id=presence.participant_id,
            identity=presence.identity,
            name=presence.name,
            role=presence.role,
            **_resumed(resumed),
        )
    )


def _resumed(resumed: bool) -> dict[str, bool]:
    """``resumed: true`` in a join event of a participant who came back within the reconnect
    grace (the signalling session reuses its participant id); absent otherwise."""
    return {"resumed": True} if resumed else {}


def _admit_waiting_guests(room: Room, now: float, events: list[Event]) -> None:
    if not client_inside(room):
        return
    for guest in room.waiting():
        if guest.status is WaitingStatus.WAITING_FOR_CLIENT:
            events.append(_admitted_event(room, guest, now, automatic=True))
            _enter(room, guest, now, events)


def _admitted_event(room: Room, p: Presence, now: float, automatic: bool = False) -> Event:
    return room_event(
        room,
        "participant_admitted",
        now,
        participant_id=p.participant_id,
        identity=p.identity,
        name=p.name,
        role=p.role,
        waited_s=round(now - (p.waiting_since or now), 3),
        automatic=automatic,
    )


def join(room: Room, joiner: Joiner, participant_id: str, now: float) -> tuple[JoinResult, list[Event]]:
    """Decide where a connecting participant goes and record their presence."""
    refused = refusal(room, now)
    if refused is not None:
        return refused, []
    events: list[Event] = []
    # A reconnect replaces the stale entry of the same identity, keeping its place in the queue.
    previous = [p for p in room.present.values() if p.identity == joiner.identity]
    resumed = any(p.participant_id == participant_id for p in previous)
    earlier_wait = min((p.waiting_since for p in previous if p.waiting_since), default=None)
    for p in previous:
        del room.present[p.participant_id]
    presence = Presence(participant_id, joiner.identity, joiner.name, joiner.role, PresenceState.WAITING, now)
    room.present[participant_id] = presence
    running = room.state is RoomState.STARTED
    host = joiner.role in HOST_ROLES
    guest_before_client = joiner.role == "guest" and room.forced and not client_inside(room)
    direct = (
        host
        or room.kind is RoomKind.QUICK
        # a forced start lets no guest in before the client, not even one invited after it
        or (joiner.invited_during_call and running and room.kind is not RoomKind.WALK_IN and not guest_before_client)
        or (joiner.role == "guest" and client_inside(room))
        or (joiner.role == "client" and joiner.identity in room.admitted)
        or (joiner.role == "client" and running and room.kind is RoomKind.APPOINTMENT)
    )
    if direct:
        _enter(room, presence, now, events, resumed=resumed)
        if room.kind is RoomKind.QUICK:
            _start(room, now, forced=False, events=events)
        _admit_waiting_guests(room, now, events)
        events.append(room_event(room, QUEUE_CHANGED, now))
        return JoinResult("admit"), events
    if joiner.role == "guest":
        presence.status = WaitingStatus.WAITING_FOR_CLIENT
    else:
        presence.status = arrival_status(room, now)
    presence.waiting_since = earlier_wait or now
    events.append(
        room_event(
            room,
            "participant_waiting",
            now,
            participant_id=participant_id,
            identity=joiner.identity,
            name=joiner.name,
            role=joiner.role,
            status=presence.status.value,
            **_resumed(resumed),
        )
    )
    events.append(room_event(room, QUEUE_CHANGED, now))
    return JoinResult("wait", status=presence.status), events


def leave(room: Room, participant_id: str, now: float) -> list[Event]:
    presence = room.present.pop(participant_id, None)
    if presence is None:
        return []
    return [
        room_event(
            room,
            "participant_left",
            now,
            participant_id=participant_id,
            identity=presence.identity,
            role=presence.role,
            was_waiting=presence.state is PresenceState.WAITING,
        ),
        room_event(room, QUEUE_CHANGED, now),
    ]


def _waiting_entry(room: Room, participant_id: str) -> Presence:
    presence = room.present.get(participant_id)
    if presence is None or presence.state is not PresenceState.WAITING:
        raise Conflict("not_waiting", f"participant '{participant_id}' is not in the waiting room")
    return presence


def _require_open(room: Room) -> None:
    if room.state is RoomState.ENDED:
        raise Conflict("room_ended", "the consultation has already ended")


def admit(room: Room, participant_id: str, now: float) -> list[Event]:
    _require_open(room)
    presence = _waiting_entry(room, participant_id)
    if presence.status is WaitingStatus.WAITING_FOR_CLIENT:
        raise Conflict(
            "waiting_for_client", "a guest cannot enter before the client is in the consultation"
        )
    events: list[Event] = [_admitted_event(room, presence, now)]
    _enter(room, presence, now, events)
    _start(room, now, forced=False, events=events)
    _admit_waiting_guests(room, now, events)
    events.append(room_event(room, QUEUE_CHANGED, now))
    return events


def deny(room: Room, participant_id: str, message: str, now: float) -> list[Event]:
    _require_open(room)
    presence = _waiting_entry(room, participant_id)
    del room.present[participant_id]
    return [
        room_event(
            room,
            "participant_denied",
            now,
            participant_id=participant_id,
            identity=presence.identity,
            name=presence.name,
            role=presence.role,
            message=message,
        ),
        room_event(room, QUEUE_CHANGED, now),
    ]


def force_start(room: Room, now: float) -> list[Event]:
    """Start without the client; clients already waiting (appointment) go in with it."""
    _require_open(room)
    if room.state is RoomState.STARTED:
        raise Conflict("already_started", "the consultation is already running")
    events: list[Event] = []
    _start(room, now, forced=True, events=events)
    if room.kind is RoomKind.APPOINTMENT:
        for p in room.waiting():
            if p.role == "client":
                events.append(_admitted_event(room, p, now, automatic=True))
                _enter(room, p, now, events)
        _admit_waiting_guests(room, now, events)
    events.append(room_event(room, QUEUE_CHANGED, now))
    return events


def end(room: Room, now: float, reason: str = "ended") -> list[Event]:
    """End the consultation: record start, end and duration; everyone is disconnected."""
    _require_open(room)
    room.state = RoomState.ENDED
    room.ended_at = now
    room.available = False
    participants = sorted(room.present)
    room.present.clear()
    return [
        room_event(
            room,
            "consultation_ended",
            now,
            started_at=room.started_at,
            ended_at=now,
            duration_s=room.duration_s if room.started_at is not None else 0.0,
            forced=room.forced,
            reason=reason,
            participants=participants,
            post_consultation_message=room.settings.post_consultation_message,
        )
    ]


def set_availability(room: Room, available: bool, now: float) -> list[Event]:
    _require_open(room)
    if room.kind is not RoomKind.WALK_IN:
        raise Conflict("not_walk_in", "availability applies to walk_in rooms only")
    if room.available == available:
        return []
    room.available = available
    room.available_since = now if available else None
    return [room_event(room, AVAILABILITY_CHANGED, now, available=available)]


def available_now(room: Room, now: float) -> bool:
    """Shown by the platform's walk-in widget: switched on and inside the walk-in hours."""
    return (
        room.kind is RoomKind.WALK_IN
        and room.available
        and room.state is not RoomState.ENDED
        and room.starts_at <= now <= room.ends_at
    )


def camera_problem(room: Room, participant_id: str, producer_id: str, resolved: bool, now: float) -> Event:
    presence = room.present.get(participant_id)
    return room_event(
        room,
        "camera_problem",
        now,
        participant_id=participant_id,
        identity=presence.identity if presence else None,
        producer_id=producer_id,
        resolved=resolved,
    )


def visible_announcements(announcements: list[Announcement], now: float) -> list[Announcement]:
    return sorted((a for a in announcements if a.visible(now)), key=lambda a: (a.created_at, a.id))


def remove_announcement(announcements: list[Announcement], announcement_id: str) -> None:
    for i, a in enumerate(announcements):
        if a.id == announcement_id:
            del announcements[i]
            return
    raise NotFound("announcement")
