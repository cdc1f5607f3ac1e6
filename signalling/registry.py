"""Live sessions of this process by room and participant, so one session can reach another."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from signalling.session import ParticipantSession


class SessionRegistry:
    """Live sessions by room and participant, so one session can reach another."""

    def __init__(self) -> None:
        self._by_room: dict[str, dict[str, ParticipantSession]] = {}

    def add(self, session: ParticipantSession) -> None:
        assert session.context is not None and session.participant_id is not None
        self._by_room.setdefault(session.context.room, {})[session.participant_id] = session

    def remove(self, session: ParticipantSession) -> None:
        if session.context is None or session.participant_id is None:
            return
        room = self._by_room.get(session.context.room)
        if room is not None and room.get(session.participant_id) is session:
            del room[session.participant_id]
            if not room:
                del self._by_room[session.context.room]

    def in_room(self, room: str) -> list[ParticipantSession]:
        return list(self._by_room.get(room, {}).values())

    def get(self, room: str, participant_id: str) -> ParticipantSession | None:
        return self._by_room.get(room, {}).get(participant_id)

    def rooms(self) -> list[str]:
        return list(self._by_room)
