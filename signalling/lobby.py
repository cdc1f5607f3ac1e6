"""The lobby: what a signalling session asks before letting a participant into the media.

signalling must not import control, so the contract lives here and control implements
it (``control.lobby_service.ControlLobby``). When the control plane is off,
:class:`AllowAllLobby` admits everyone directly.

How the session uses it (one participant):

1. After verifying the join token: ``decision = await lobby.on_join(ctx, participant_id,
   handle, now)``. ``handle`` is the session's :class:`SessionHandle`.
2. ``decision.outcome``:

   * ``"admit"``: enter the media room as usual and send ``joined``.
   * ``"wait"``: send every message in ``decision.messages`` (a ``waiting`` message),
     keep the WebSocket open, do not touch the media room. Later the lobby calls
     ``await handle.admit()`` (the session sends ``admitted``, then enters the media
     room and sends ``joined``) or ``await handle.close("denied", text)`` (after having
     sent ``denied`` through ``handle.send``).
   * ``"refuse"``: send ``decision.messages`` (an ``access_refused`` message with the
     reason: too_early + opens_at, too_late, room_ended, not_found, unavailable), then close the
     WebSocket. ``decision.reason`` is the stable reason string. The handle is not kept.

3. Messages of the types in ``signalling.messages_waiting.CLIENT_TYPES`` that the
   participant sends are passed to ``await lobby.on_message(room, participant_id, msg,
   now)``; it raises :class:`LobbyError` (``code``, ``message``) to be sent back as an
   ``error`` message.
4. On disconnect (any reason): ``await lobby.on_leave(room, participant_id, now)``.
5. When the media plane reports a camera problem: ``await lobby.on_camera_problem(room,
   participant_id, producer_id, resolved, now)``.

The lobby pushes to connected participants through the handle at any time: ``waiting``
updates and ``announcement`` lists to waiting people, ``queue`` to practitioners,
``consultation_ended`` to everyone followed by ``handle.close("ended", ...)``.
Every handle method must be safe to call after the session closed (then a no-op).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from signalling.codec import Message


class LobbyError(Exception):
    """A lobby request (admit, deny, ...) that cannot be done; ``code`` is stable."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class JoinContext:
    """What the verified join token says about the person connecting."""

    room: str
    identity: str
    name: str
    role: str
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. org, dept, inv


@dataclass(frozen=True)
class LobbyDecision:
    outcome: str  # "admit" | "wait" | "refuse"
    reason: str | None = None  # for refuse: too_early, too_late, room_ended, not_found, unavailable
    messages: tuple[Message, ...] = ()
    settings: dict[str, Any] = field(default_factory=dict)  # room settings for `joined`
    started_at: float | None = None

    @property
    def admitted(self) -> bool:
        return self.outcome == "admit"


class SessionHandle(Protocol):
    async def send(self, msg: Message) -> None: ...

    async def admit(self, started_at: float | None = None) -> None:
        """Let a waiting participant in; ``started_at``: when the consultation started."""
        ...

    async def close(self, reason: str, message: str | None = None) -> None: ...


class Lobby(Protocol):
    async def on_join(
        self, ctx: JoinContext, participant_id: str, handle: SessionHandle, now: float
    ) -> LobbyDecision: ...

    async def on_leave(self, room: str, participant_id: str, now: float) -> None: ...

    async def on_message(self, room: str, participant_id: str, msg: Message, now: float) -> None: ...

    async def on_camera_problem(
        self, room: str, participant_id: str, producer_id: str, resolved: bool, now: float
    ) -> None: ...


class AllowAllLobby:
    """No control plane: everyone goes straight into the consultation."""

    async def on_join(
        self, ctx: JoinContext, participant_id: str, handle: SessionHandle, now: float
    ) -> LobbyDecision:
        return LobbyDecision("admit")

    async def on_leave(self, room: str, participant_id: str, now: float) -> None:
        return None

    async def on_message(self, room: str, participant_id: str, msg: Message, now: float) -> None:
        raise LobbyError("no_waiting_room", "this server has no waiting room")

    async def on_camera_problem(
        self, room: str, participant_id: str, producer_id: str, resolved: bool, now: float
    ) -> None:
        return None
