"""The chat of every room this process serves: transcript, live delivery, history, the end.

Where a chat lives:

* **during the consultation**, in the store (:class:`ConsultationRecords` of kind
  ``chat``: memory, or Redis when several processes share it), so staff connected to any
  process read a waiting client's chat and whoever reconnects gets the history;
* **live**, through the store's event channel (``chat_message`` events, never stored, never
  sent to webhooks): every process's :meth:`ChatService._listen` task hears every message
  and hands it to its own sessions that may see it (:func:`records.visible_to`);
* **at the end** (:meth:`ChatService.forget`, registered with recordings_off as a
  ``consultation``-lifetime holder): the transcript is *taken* — read and deleted in one
  atomic step, so of every process hearing the end exactly one gets it — and, when the
  room's or the organisation's ``chat_retention`` is ``hand_over``, sent as one
  ``chat_transcript`` webhook (signed and retried by the webhook dispatcher like every
  other event). Deleted here either way.

A transcript nobody ends expires in the store by itself (``[chat] abandoned_after_s``
after the access window closed; ``ad_hoc_expire_s`` after the last message in rooms the
control plane does not know).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web

from control.domain.model import PresenceState, Room, RoomKind
from control.domain.roles import HOST_ROLES
from control.domain.rules import Event
from control.features.chat.config import ChatConfig
from control.features.chat.records import ChatRecord, Viewer, visible_to, wire_message
from control.plane import ControlPlane
from control.store import EventSubscription, StoreError
from control.store.consultation_data import ConsultationRecords
from control.webhooks import cancel_and_wait
from signalling import messages_chat as mc
from signalling.codec import ProtocolError
from signalling.session import ParticipantSession, SessionRegistry, SessionState

log = logging.getLogger(__name__)

#: The store event that carries a new message to every process (live only).
CHAT_EVENT = "chat_message"
#: The webhook event of a handed-over transcript.
TRANSCRIPT_EVENT = "chat_transcript"
RESUBSCRIBE_MIN_S = 0.5
RESUBSCRIBE_MAX_S = 10.0


class ChatFull(Exception):
    """The room's transcript holds ``max_messages`` already."""


def viewer_of(session: ParticipantSession) -> Viewer | None:
    context = session.context
    if context is None or session.state not in (SessionState.WAITING, SessionState.JOINED):
        return None
    return Viewer(identity=context.identity, role=context.role, inside=session.state is SessionState.JOINED)


def new_message_id() -> str:
    return "CM_" + secrets.token_urlsafe(9)


class ChatService:
    def __init__(
        self,
        config: ChatConfig,
        plane: ControlPlane,
        registry: SessionRegistry,
        clock: Callable[[], float],
    ) -> None:
        self.config = config
        self.plane = plane
        self.registry = registry
        self.clock = clock
        self.records = ConsultationRecords(plane.store, "chat", max_items=config.max_messages)
        #: bytes of content this process put in each room's transcript (the gauge)
        self._held: dict[str, int] = {}
        #: whether a file shared in a room can still be downloaded (set by the files feature)
        self.file_available: Callable[[str, str], bool] = lambda room, file_id: False
        self._subscription: EventSubscription | None = None
        self._listener: asyncio.Task[None] | None = None
        self.sent = 0
        self.handed_over = 0

    # ------------------------------------------------------------ life cycle

    async def lifecycle(self, _: web.Application) -> AsyncIterator[None]:
        self._listener = asyncio.create_task(self._listen_forever(), name="chat-events")
        try:
            yield
        finally:
            await cancel_and_wait(self._listener)
            self._listener = None
            if self._subscription is not None:
                await self._subscription.close()
                self._subscription = None

    async def _listen_forever(self) -> None:
        delay = RESUBSCRIBE_MIN_S
        while True:
            try:
                self._subscription = await self.plane.store.subscribe()
                delay = RESUBSCRIBE_MIN_S
                await self._listen(self._subscription)
            except StoreError as exc:
                log.warning("chat: store events unavailable (%s); retrying in %.1f s", exc, delay)
            if self._subscription is not None:
                subscription, self._subscription = self._subscription, None
                await subscription.close()
            await asyncio.sleep(delay)
            delay = min(RESUBSCRIBE_MAX_S, delay * 2)

    async def _listen(self, subscription: EventSubscription) -> None:
        async for event in subscription:
            if event.name == CHAT_EVENT and event.room is not None:
                try:
                    self.deliver(event.room, ChatRecord.from_dict(event.data["record"]))
                except (KeyError, TypeError, ValueError) as exc:
                    log.warning("chat: ignoring a malformed message event: %s", exc)
            del event  # the last message must not stay referenced by this frame

    # ------------------------------------------------------------ messages

    async def send(
        self,
        session: ParticipantSession,
        *,
        kind: str,
        text: str | None = None,
        url: str | None = None,
        file: dict[str, Any] | None = None,
        to: str | None = None,
    ) -> ChatRecord:
        """A message from ``session`` (checked already): its thread, the transcript, everyone
        who may see it. Raises ProtocolError (forbidden, not_waiting, chat_full, unavailable)."""
        context, me = session.context, session.participant_id
        if context is None or me is None or session.state not in (SessionState.WAITING, SessionState.JOINED):
            raise ProtocolError("wrong_state", "chat is open in the waiting room and in the consultation")
        try:
            room = await self.plane.store.get_room(context.room)
        except StoreError:
            raise ProtocolError("unavailable", "the chat is unavailable right now; try again in a moment") from None
        thread, waiting_identity, audience = _thread(session, room, to)
        record = ChatRecord(
            message_id=new_message_id(),
            thread=thread,
            kind=kind,
            sender={"participant_id": me, "identity": context.identity, "name": context.name, "role": context.role},
            at=self.clock(),
            text=text,
            url=url,
            file=file,
            waiting_identity=waiting_identity,
            audience=audience,
        )
        org = room.org if room is not None else str(context.extra.get("org") or "")
        try:
            await self.post(context.room, org, room, record)
        except ChatFull as exc:
            raise ProtocolError("chat_full", str(exc)) from None
        except StoreError:
            raise ProtocolError("unavailable", "the chat is unavailable right now; the message was not sent") from None
        return record

    def expires_at(self, room: Room | None) -> float:
        now = self.clock()
        if room is None:
            return now + self.config.ad_hoc_expire_s
        return max(now, room.closes_at) + self.config.abandoned_after_s

    async def post(self, room_id: str, org: str, room: Room | None, record: ChatRecord) -> None:
        """Keep a message in the room's transcript and send it to everyone who may see it
        (on every process), except its sender's session, which gets the reply itself."""
        if await self.records.append(room_id, record.to_dict(), expires_at=self.expires_at(room)) is None:
            raise ChatFull(f"this chat holds {self.config.max_messages} messages, the most a consultation keeps")
        self._held[room_id] = self._held.get(room_id, 0) + record.content_bytes
        self.sent += 1
        await self.plane.store.publish(Event(CHAT_EVENT, org, room_id, record.at, data={"record": record.to_dict()}))

    def deliver(self, room_id: str, record: ChatRecord) -> None:
        """A message heard on the event channel: to this process's sessions that may see it."""
        message = wire_message(record)
        for session in self.registry.in_room(room_id):
            viewer = viewer_of(session)
            if viewer is None or session.participant_id == record.sender.get("participant_id"):
                continue
            if visible_to(record, viewer):
                session.send(message)

    async def send_history(self, session: ParticipantSession) -> None:
        """Everything ``session`` may see, after ``waiting`` and after ``joined``."""
        viewer, context = viewer_of(session), session.context
        if viewer is None or context is None:
            return
        try:
            records = [ChatRecord.from_dict(r) for r in await self.records.read(context.room)]
            retention = await self.retention(await self.plane.store.get_room(context.room))
        except StoreError as exc:
            log.warning("chat history of %s unavailable: %s", context.room, exc)
            session.error("unavailable", "the chat history is unavailable right now; new messages still arrive")
            return
        entries = [
            r.entry(available=self.file_available(context.room, str(r.file["file_id"])) if r.file else None)
            for r in records
            if visible_to(r, viewer)
        ]
        session.send(mc.ChatHistory(messages=entries, retention=retention))  # type: ignore[arg-type]

    # ------------------------------------------------------------ the end

    async def retention(self, room: Room | None) -> str:
        """``delete`` or ``hand_over``: the room's override, else the organisation's."""
        if room is None:
            return "delete"
        if room.settings.chat_retention is not None:
            return room.settings.chat_retention
        return (await self.plane.store.get_org(room.org)).chat_retention

    async def forget(self, room_id: str) -> None:
        """The consultation is over: take the transcript out of the store, hand it over if
        the organisation wants it, keep nothing."""
        try:
            taken = await self.records.take(room_id)
        except StoreError as exc:
            log.error("chat transcript of %s could not be deleted now (%s); it expires by itself", room_id, exc)
            return
        finally:
            self._held.pop(room_id, None)  # after the take: the gauge is 0 once it is gone
        if not taken:
            return
        try:
            room = await self.plane.store.get_room(room_id)
            retention = await self.retention(room)
        except StoreError as exc:
            log.error("chat transcript of %s deleted without hand-over: the store is unavailable (%s)", room_id, exc)
            return
        if room is None or retention != "hand_over":
            return
        webhooks = self.plane.webhooks
        if webhooks is None:
            log.warning("chat transcript of %s deleted without hand-over: this server sends no webhooks", room_id)
            return
        records = [ChatRecord.from_dict(r) for r in taken]
        event = Event(
            TRANSCRIPT_EVENT,
            room.org,
            room.id,
            self.clock(),
            department=room.department,
            data=_transcript(room, records),
        )
        del taken, records
        if webhooks.emit(event):
            self.handed_over += 1

    def held_bytes(self) -> int:
        return sum(self._held.values())

    def dump(self) -> dict[str, Any]:
        return {"rooms": dict(self._held), "sent": self.sent, "handed_over": self.handed_over}


def _thread(session: ParticipantSession, room: Room | None, to: str | None) -> tuple[str, str | None, tuple[str, ...] | None]:
    """(thread, waiting_identity, audience) of a message ``session`` sends."""
    context = session.context
    assert context is not None
    if to is not None:
        if context.role not in HOST_ROLES:
            raise ProtocolError("forbidden", "only practitioners and department managers may answer a waiting person ('to')")
        presence = room.present.get(to) if room is not None else None
        if presence is None or presence.state is not PresenceState.WAITING:
            raise ProtocolError("not_waiting", f"participant '{to}' is not in this room's waiting room")
        return "waiting", presence.identity, None
    if session.state is SessionState.WAITING:
        return "waiting", context.identity, None
    audience = None
    if room is not None and room.kind is RoomKind.WALK_IN:
        # a walk-in room sees one visitor after the other: each reads only what was said while inside
        inside = {p.identity for p in room.in_consultation()} | {context.identity}
        audience = tuple(sorted(inside))
    return "consultation", None, audience


def _transcript(room: Room, records: list[ChatRecord]) -> dict[str, Any]:
    return {
        "retention": "hand_over",
        "started_at": room.started_at,
        "ended_at": room.ended_at,
        "message_count": len(records),
        "messages": [r.hand_over_view() for r in records],
    }
