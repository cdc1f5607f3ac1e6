"""ControlLobby: the control plane's implementation of ``signalling.lobby.Lobby``.

Decisions and state changes go through :class:`control.consultations.Consultations`
(the same rules as the REST API). Live pushes are driven by the store's event channel:
one owned listener task per process receives every event (from this process's API, its
sessions, or — with Redis — any other process) and pushes to the sessions connected
here: ``waiting``/``announcement`` updates to waiting people, ``queue`` to
practitioners, ``admitted``/``denied`` to the participant concerned and
``consultation_ended`` to everyone in an ended room. Every process's lobby also calls its
:attr:`ControlLobby.ended_listeners` with the room id of every ``consultation_ended`` it
hears, wherever the room's participants are (the app forgets the consultation's data).

Tokens without an ``org`` claim (minted by ``consult-sfu token``) for a room the store
does not know are admitted directly: that is the ad-hoc room of the SFU-core issue and
keeps ``make run`` + CLI tokens working. For a room the store knows, the rules apply to
every token. A token with an ``org`` claim for an unknown room is refused (not_found).

The control plane's clock (``Consultations.clock``) is authoritative for the rules; the
``now`` the session passes is not used.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from control.consultations import Consultations
from control.domain.errors import ControlError
from control.domain.model import Presence, PresenceState, Room
from control.domain.roles import HOST_ROLES
from control.domain.rules import (
    ANNOUNCEMENTS_CHANGED,
    AVAILABILITY_CHANGED,
    QUEUE_CHANGED,
    Event,
    Joiner,
    practitioner_status,
)
from control.domain.views import waiting_entry
from control.store import EventSubscription, StoreError
from control.webhooks import cancel_and_wait
from signalling.codec import Message
from signalling.lobby import JoinContext, LobbyDecision, LobbyError, SessionHandle
from signalling.messages_waiting import (
    AccessRefused,
    Admit,
    AnnouncementInfo,
    Announcements,
    ConsultationEnded,
    Denied,
    Deny,
    EndConsultation,
    ForceStart,
    Queue,
    SetAvailability,
    Waiting,
    WaitingEntryInfo,
)

log = logging.getLogger(__name__)
READY_TIMEOUT_S = 5.0
RESUBSCRIBE_MIN_S = 0.5
RESUBSCRIBE_MAX_S = 10.0


@dataclass
class _Local:
    """A participant connected to this process."""

    handle: SessionHandle
    role: str
    department: str | None = None
    waiting: bool = False
    ready: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def host(self) -> bool:
        return self.role in HOST_ROLES


class ControlLobby:
    def __init__(self, service: Consultations) -> None:
        self._svc = service
        self._rooms: dict[str, dict[str, _Local]] = {}
        self._subscription: EventSubscription | None = None
        self._listener: asyncio.Task[None] | None = None
        #: called with the room id of every ended consultation (any process ended it)
        self.ended_listeners: list[Callable[[str], Awaitable[object]]] = []

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Subscribe to the store's events (retrying in the background if the store is down)."""
        if self._listener is not None:
            return
        try:
            self._subscription = await self._svc.store.subscribe()
        except StoreError as exc:
            log.error("lobby cannot subscribe to store events yet: %s", exc)
        self._listener = asyncio.create_task(self._listen_forever(), name="lobby-events")

    async def _listen_forever(self) -> None:
        delay = RESUBSCRIBE_MIN_S
        while True:
            if self._subscription is None:
                try:
                    self._subscription = await self._svc.store.subscribe()
                    delay = RESUBSCRIBE_MIN_S
                except StoreError as exc:
                    log.warning("lobby: store events unavailable (%s); retrying in %.1f s", exc, delay)
                    await asyncio.sleep(delay)
                    delay = min(RESUBSCRIBE_MAX_S, delay * 2)
                    continue
            try:
                await self._listen(self._subscription)
            except StoreError as exc:
                log.warning("lobby: lost store events: %s", exc)
            subscription, self._subscription = self._subscription, None
            await subscription.close()
            await asyncio.sleep(delay)

    async def close(self) -> None:
        if self._listener is not None:
            await cancel_and_wait(self._listener)
            self._listener = None
        if self._subscription is not None:
            await self._subscription.close()
            self._subscription = None

    def forget_room(self, room: str) -> None:
        """The consultation is over: nothing of its participants stays here (recordings_off)."""
        self._rooms.pop(room, None)

    def dump(self) -> dict[str, dict[str, dict[str, object]]]:
        return {
            room: {pid: {"role": rec.role, "waiting": rec.waiting} for pid, rec in members.items()}
            for room, members in self._rooms.items()
        }

    # ------------------------------------------------------------ Lobby protocol

    async def on_join(
        self, ctx: JoinContext, participant_id: str, handle: SessionHandle, now: float
    ) -> LobbyDecision:
        record = _Local(handle, ctx.role, department=_str(ctx.extra.get("dept")))
        self._rooms.setdefault(ctx.room, {})[participant_id] = record
        try:
            return await self._decide(ctx, participant_id, record)
        except StoreError as exc:
            self._forget(ctx.room, participant_id)
            log.error("lobby cannot reach the store: %s", exc)
            refused = AccessRefused(reason="unavailable", message="the waiting room is unavailable; try again in a minute")
            return LobbyDecision("refuse", reason="unavailable", messages=(refused,))
        except BaseException:
            self._forget(ctx.room, participant_id)
            raise
        finally:
            record.ready.set()

    async def _decide(self, ctx: JoinContext, participant_id: str, record: _Local) -> LobbyDecision:
        org = _str(ctx.extra.get("org"))
        joiner = Joiner(ctx.identity, ctx.name, ctx.role, invited_during_call=bool(ctx.extra.get("inv")))
        result, room = await self._svc.join(ctx.room, joiner, participant_id, org)
        if room is None and org is None:
            return LobbyDecision("admit")  # CLI token, ad-hoc room unknown to the store
        if result.outcome == "refuse" or room is None:
            self._forget(ctx.room, participant_id)
            refused = AccessRefused(
                reason=result.reason or "not_found",
                message=result.message or "joining is refused",
                opens_at=result.opens_at,
            )
            return LobbyDecision("refuse", reason=refused.reason, messages=(refused,))
        record.department = room.department
        settings = _settings(room)
        if result.outcome == "admit":
            messages: tuple[Message, ...] = (self._queue(room),) if record.host else ()
            return LobbyDecision("admit", messages=messages, settings=settings, started_at=room.started_at)
        record.waiting = True
        presence = room.present[participant_id]
        waiting = await self._waiting(room, presence)
        return LobbyDecision("wait", messages=(waiting,), settings=settings, started_at=room.started_at)

    async def on_leave(self, room: str, participant_id: str, now: float) -> None:
        self._forget(room, participant_id)
        await self._svc.leave(room, participant_id)

    async def on_message(self, room: str, participant_id: str, msg: Message, now: float) -> None:
        record = self._rooms.get(room, {}).get(participant_id)
        if record is None or not record.host:
            raise LobbyError("forbidden", f"only a practitioner or department manager may send '{msg.type}'")
        try:
            if isinstance(msg, Admit):
                await self._svc.admit(None, room, msg.participant_id)
            elif isinstance(msg, Deny):
                await self._svc.deny(None, room, msg.participant_id, msg.message)
            elif isinstance(msg, ForceStart):
                await self._svc.force_start(None, room)
            elif isinstance(msg, EndConsultation):
                await self._svc.end(None, room)
            elif isinstance(msg, SetAvailability):
                await self._svc.set_availability(None, room, msg.available)
            else:
                raise LobbyError("unknown_type", f"the lobby does not handle '{msg.type}'")
        except ControlError as exc:
            raise LobbyError(exc.code, exc.message) from None

    async def on_camera_problem(
        self, room: str, participant_id: str, producer_id: str, resolved: bool, now: float
    ) -> None:
        await self._svc.camera_problem(room, participant_id, producer_id, resolved)

    # ------------------------------------------------------------ events -> pushes

    async def _listen(self, subscription: EventSubscription) -> None:
        """Until the subscription ends (StoreError when the connection is lost)."""
        async for event in subscription:
            try:
                await self._on_event(event)
                if event.name == "consultation_ended" and event.room is not None:
                    for listener in self.ended_listeners:
                        await listener(event.room)
            except Exception:  # one bad push must not stop the live lobby
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise asyncio.CancelledError from None  # redis-py may mask a cancel
                log.exception("lobby failed to handle %s", event.name)
            del event  # the last event (a chat message, too) must not stay referenced here

    async def _on_event(self, event: Event) -> None:
        if event.room is None:
            if event.name == ANNOUNCEMENTS_CHANGED:
                for room_id, present in list(self._rooms.items()):
                    if any(r.department == event.department for r in present.values()):
                        await self._push_announcements(room_id)
            return
        members = self._rooms.get(event.room)
        if not members:
            return
        pid = event.data.get("participant_id")
        record = members.get(pid) if isinstance(pid, str) else None
        if record is not None and not record.ready.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(record.ready.wait(), READY_TIMEOUT_S)
        if event.name == "participant_admitted" and record is not None:
            record.waiting = False
            room = await self._svc.store.get_room(event.room)
            await record.handle.admit(room.started_at if room is not None else None)
        elif event.name == "participant_denied" and record is not None:
            self._forget(event.room, str(pid))
            text = str(event.data.get("message") or "")
            await record.handle.send(Denied(message=text))
            await record.handle.close("denied", text or None)
        elif event.name == "consultation_ended":
            await self._end_room(event)
        elif event.name in (QUEUE_CHANGED, AVAILABILITY_CHANGED):
            await self._push_queue(event.room)
        elif event.name == ANNOUNCEMENTS_CHANGED:
            await self._push_announcements(event.room)

    async def _end_room(self, event: Event) -> None:
        members = self._rooms.pop(event.room or "", None) or {}
        text = str(event.data.get("post_consultation_message") or "")
        duration = event.data.get("duration_s")
        ended = ConsultationEnded(
            post_consultation_message=text,
            duration_s=float(duration) if isinstance(duration, int | float) else None,
        )
        for record in members.values():
            await record.handle.send(ended)
            await record.handle.close("ended", text or None)

    async def _push_queue(self, room_id: str) -> None:
        room = await self._svc.store.get_room(room_id)
        members = self._rooms.get(room_id, {})
        if room is None or not members:
            return
        queue = self._queue(room)
        for pid, record in list(members.items()):
            if not record.ready.is_set():
                continue  # still joining: its decision carries the current state
            if record.host:
                await record.handle.send(queue)
            elif record.waiting and pid in room.present:
                await record.handle.send(await self._waiting(room, room.present[pid]))

    async def _push_announcements(self, room_id: str) -> None:
        room = await self._svc.store.get_room(room_id)
        if room is None:
            return
        shown = await self._announcements(room)
        for record in list(self._rooms.get(room_id, {}).values()):
            if record.ready.is_set() and (record.waiting or record.host):
                await record.handle.send(Announcements(announcements=shown))

    # ------------------------------------------------------------ message builders

    def _queue(self, room: Room) -> Queue:
        entries = [WaitingEntryInfo(**waiting_entry(room, p)) for p in room.waiting()]
        available = room.available if room.kind.value == "walk_in" else None
        return Queue(room=room.id, entries=entries, state=room.state.value, available=available)

    async def _announcements(self, room: Room) -> list[AnnouncementInfo]:
        return [
            AnnouncementInfo(id=a.id, text=a.text, created_at=a.created_at, expires_at=a.expires_at, scope=scope)
            for a, scope in await self._svc.visible_announcements(room)
        ]

    async def _waiting(self, room: Room, presence: Presence) -> Waiting:
        return Waiting(
            status=presence.status.value if presence.status else "on_time",
            practitioner_status=practitioner_status(room),
            server_time=self._svc.clock(),
            appointment_at=None if room.kind.value == "walk_in" else room.starts_at,
            waiting_since=presence.waiting_since,
            announcements=await self._announcements(room),
        ) if presence.state is PresenceState.WAITING else Waiting(
            status="admitted", practitioner_status=practitioner_status(room), server_time=self._svc.clock()
        )

    def _forget(self, room: str, participant_id: str) -> None:
        members = self._rooms.get(room)
        if members is not None:
            members.pop(participant_id, None)
            if not members:
                del self._rooms[room]


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _settings(room: Room) -> dict[str, object]:
    s = room.settings
    return {
        "kind": room.kind.value,
        "resolution_change_allowed": s.resolution_change_allowed,
        "background_effects_allowed": s.background_effects_allowed,
        "effects_ask_again": s.effects_ask_again,
        "captions_allowed": s.captions_allowed,
        "chat_retention": s.chat_retention,
        "post_consultation_message": s.post_consultation_message,
    }
