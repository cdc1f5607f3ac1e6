"""JSON views of domain objects, shared by the REST API and the live lobby."""

from __future__ import annotations

from typing import Any

from control.domain.model import Announcement, Person, Presence, Room, RoomKind
from control.domain.rules import available_now


def person_view(p: Person | None) -> dict[str, Any] | None:
    return None if p is None else {"identity": p.identity, "name": p.name}


def waiting_entry(room: Room, p: Presence) -> dict[str, Any]:
    return {
        "participant_id": p.participant_id,
        "room": room.id,
        "identity": p.identity,
        "name": p.name,
        "role": p.role,
        "status": p.status.value if p.status else None,
        "appointment_at": None if room.kind is RoomKind.WALK_IN else room.starts_at,
        "waiting_since": p.waiting_since,
    }


def announcement_view(a: Announcement, scope: str, now: float) -> dict[str, Any]:
    return {
        "id": a.id,
        "text": a.text,
        "created_at": a.created_at,
        "expires_at": a.expires_at,
        "expired": not a.visible(now),
        "scope": scope,
    }


def room_view(room: Room, now: float) -> dict[str, Any]:
    return {
        "id": room.id,
        "kind": room.kind.value,
        "department": room.department,
        "practitioner": person_view(room.practitioner),
        "client": person_view(room.client),
        "guests": [person_view(g) for g in room.guests],
        "starts_at": room.starts_at,
        "ends_at": room.ends_at,
        "access_window": {"opens_at": room.opens_at, "closes_at": room.closes_at},
        "settings": {
            "resolution_change_allowed": room.settings.resolution_change_allowed,
            "background_effects_allowed": room.settings.background_effects_allowed,
            "effects_ask_again": room.settings.effects_ask_again,
            "captions_allowed": room.settings.captions_allowed,
            "chat_retention": room.settings.chat_retention,
            "post_consultation_message": room.settings.post_consultation_message,
        },
        "state": room.state.value,
        "created_at": room.created_at,
        "started_at": room.started_at,
        "ended_at": room.ended_at,
        "duration_s": room.duration_s,
        "forced": room.forced,
        "available": available_now(room, now) if room.kind is RoomKind.WALK_IN else None,
        "waiting_count": len(room.waiting()),
        "participant_count": len(room.in_consultation()),
        "metadata": dict(room.metadata),
    }
