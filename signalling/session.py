"""One participant's signalling session: wire messages in, media-plane calls and events out.

The session knows nothing of WebSockets: the edge (control/ws.py) feeds it text frames
with :meth:`ParticipantSession.handle_text` and drains :attr:`outbox`, a bounded queue
of encoded frames. A client that stops reading fills the outbox and is disconnected
rather than making the server buffer without limit.

States: ``connected`` (only ``join``/``ping`` accepted) -> ``waiting`` (in a waiting
room: only ``ping``/``leave`` and feature messages) -> ``joined`` -> ``closed``.
A waiting or joined session whose connection dropped (closed with reason
``disconnected``) is *parked* for the reconnect grace instead of closed, and a later
join of the same room and identity takes it back: signalling/resume.py.
Bad input never ends the session: it gets an ``error`` that names the problem
(echoing the message's ``id``). A refused join (bad token, too early...) allocates
nothing, gets one ``access_refused`` and closes the connection with close code
:data:`CLOSE_REFUSED`. A join for an identity already connected to the room replaces
the older session (it gets ``bye`` ``replaced`` and is closed): taken over with the
reconnect grace on, closed with it off (signalling/join_outcome.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sfu
from sfu import (
    ParticipantId,
    Preference,
    ProducerId,
    RoomId,
    SfuError,
    new_id,
)
from sfu import events as ev
from signalling import messages as m
from signalling import messages_waiting as mw
from signalling.codec import Message, ProtocolError, decode, encode
from signalling.join_outcome import (
    CLOSE_NORMAL,
    CLOSE_REFUSED,
    CLOSE_SLOW_CLIENT,
    replace_older,
    split_refusal,
)
from signalling.lobby import AllowAllLobby, JoinContext, Lobby, LobbyError
from signalling.registry import (
    SessionRegistry as SessionRegistry,  # re-exported: where it always was
)
from signalling.resume import (
    RESUMED,
    ChoicesStore,
    KeptChoices,
    ReconnectKeeper,
    apply_kept_message,
    apply_kept_subscription,
    find_previous,
    forget_kept_choices,
    load_kept_choices,
    may_park,
    park,
    save_kept_choices,
)
from signalling.room_event_messages import messages_for, participant_info, producer_info

if TYPE_CHECKING:  # the media classes bring aiortc and PyAV: loaded at the first room (sfu/__init__.py)
    from sfu import MediaServer, Participant, Room

logger = logging.getLogger(__name__)

OUTBOX_FRAMES = 256


class SessionState(enum.Enum):
    CONNECTED = "connected"
    WAITING = "waiting"
    JOINED = "joined"
    CLOSED = "closed"


class JoinRefused(Exception):
    """A join that must not go ahead; ``code`` is stable (invalid_token, too_early, ...)."""

    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or {}


TokenVerifier = Callable[[str], JoinContext]
FeatureHandler = Callable[["ParticipantSession", Message], Awaitable[None]]


def is_echo(context: JoinContext) -> bool:
    """An echo room (network test): the participant receives its own tracks."""
    return bool(context.extra.get("echo"))


@dataclass
class SessionDeps:
    media: MediaServer
    verify_token: TokenVerifier
    ice_servers: list[dict[str, Any]]
    lobby: Lobby = field(default_factory=AllowAllLobby)
    clock: Callable[[], float] = time.time
    registry: SessionRegistry | None = None
    #: extra message types handled by feature packages (waiting room, captions, effects)
    handlers: dict[str, FeatureHandler] = field(default_factory=dict)
    #: called once the participant waits in a waiting room (features' bookkeeping, e.g. chat history)
    on_waiting: list[Callable[[ParticipantSession], Awaitable[None]]] = field(default_factory=list)
    #: called once the participant is in the media room / once it left (features' bookkeeping)
    on_joined: list[Callable[[ParticipantSession], Awaitable[None]]] = field(default_factory=list)
    on_left: list[Callable[[ParticipantSession, str], Awaitable[None]]] = field(default_factory=list)
    #: parked sessions and their grace (None: a drop is a leave at once)
    reconnects: ReconnectKeeper | None = None
    #: ICE servers of one participant, added to ``ice_servers`` in its ``joined`` (participant id,
    #: now): TURN credentials of its own, valid for a while (control/turn.py)
    ice_servers_for: Callable[[str, float], list[dict[str, Any]]] | None = None
    #: where kept choices wait for a re-join served elsewhere (another worker or node)
    choices: ChoicesStore | None = None


class ParticipantSession:
    def __init__(self, deps: SessionDeps) -> None:
        self.deps = deps
        self.state = SessionState.CONNECTED
        self.outbox: asyncio.Queue[str | None] = asyncio.Queue(maxsize=OUTBOX_FRAMES)
        self.context: JoinContext | None = None
        self.participant_id: ParticipantId | None = None
        self.room: Room | None = None
        self.participant: Participant | None = None
        self.settings: dict[str, Any] = {}
        self.close_reason: str | None = None
        #: the WebSocket close code the edge closes with once the outbox is drained
        self.close_code = CLOSE_NORMAL
        self._negotiation_task: asyncio.Task[None] | None = None
        self._negotiate_again = False
        self._started_at: float | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        #: the connection dropped; waiting for a re-join within the grace (signalling/resume.py)
        self.parked = False
        #: the participant's choices, inherited by the session that takes this one back
        self.kept = KeptChoices()
        self._resumed = False
        #: participants whose old leg left for a re-join: their next participant_joined is a return
        self._returning: set[str] = set()

    # ------------------------------------------------------------ outgoing

    def send(self, msg: Message) -> None:
        """Queue a message for the client; a client that stopped reading is dropped."""
        if self.state is SessionState.CLOSED or self.parked:
            return
        try:
            self.outbox.put_nowait(encode(msg))
        except asyncio.QueueFull:
            logger.warning("session %s: client not reading, closing", self.participant_id)
            self.close_reason = "slow_client"
            self.close_code = CLOSE_SLOW_CLIENT
            self.close_outbox()

    def error(self, code: str, message: str, ref: str | None = None) -> None:
        self.send(m.Error(code=code, message=message, id=ref))

    async def refuse(
        self, reason: str, message: str, *, ref: str | None = None, opens_at: float | None = None
    ) -> None:
        """Refuse the join: one ``access_refused`` (echoing the join's id), then close with CLOSE_REFUSED."""
        self.send(mw.AccessRefused(reason=reason, message=message, opens_at=opens_at, id=ref))
        self.close_code = CLOSE_REFUSED
        await self.close(reason, notify=False)

    def close_outbox(self) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            self.outbox.put_nowait(None)  # tells the edge to close the socket

    # ------------------------------------------------------------ incoming

    async def handle_text(self, text: str | bytes) -> None:
        """Handle one frame from the client. Never raises for bad input."""
        if self.state is SessionState.CLOSED:
            return
        try:
            msg = decode(text)
        except ProtocolError as exc:
            self.error(exc.code, exc.message, exc.ref)
            return
        try:
            await self._dispatch(msg)
        except ProtocolError as exc:
            self.error(exc.code, exc.message, msg.id)
        except SfuError as exc:
            self.error(exc.code, exc.message, msg.id)
        except JoinRefused as exc:
            await self.refuse(exc.code, exc.message, ref=msg.id, opens_at=exc.details.get("opens_at"))
        except Exception:  # a bug of ours: report it, keep the connection
            logger.exception("session %s: %s failed", self.participant_id, msg.type)
            self.error("internal_error", f"the server failed to handle '{msg.type}'; it has been logged", msg.id)

    async def _dispatch(self, msg: Message) -> None:
        if isinstance(msg, m.Ping):
            self.send(m.Pong(id=msg.id))
            return
        if isinstance(msg, m.Join):
            if self.state is not SessionState.CONNECTED:
                raise ProtocolError("wrong_state", "already joined: 'join' is accepted once per connection")
            await self._join(msg)
            return
        if isinstance(msg, m.Leave):
            await self.close("left")
            return
        if msg.type in mw.CLIENT_TYPES:
            if self.state is SessionState.CONNECTED or self.context is None or self.participant_id is None:
                raise ProtocolError("wrong_state", f"'{msg.type}' needs a 'join' first")
            try:
                await self.deps.lobby.on_message(self.context.room, self.participant_id, msg, self.deps.clock())
            except LobbyError as exc:
                self.error(exc.code, exc.message, msg.id)
            return
        handler = self.deps.handlers.get(msg.type)
        if handler is not None:
            if self.state is SessionState.CONNECTED:
                raise ProtocolError("wrong_state", f"'{msg.type}' needs a 'join' first")
            await handler(self, msg)
            if self.kept.remember_message(msg):
                self._spawn(save_kept_choices(self))
            return
        if self.state is not SessionState.JOINED or self.room is None or self.participant is None:
            what = "wait until you are admitted" if self.state is SessionState.WAITING else "send 'join' first"
            raise ProtocolError("wrong_state", f"'{msg.type}' is not accepted yet: {what}")
        await self._dispatch_joined(msg, self.room, self.participant)

    async def _dispatch_joined(self, msg: Message, room: Room, participant: Participant) -> None:
        if isinstance(msg, m.Offer):
            if msg.pc != "publish":
                raise ProtocolError("invalid_field", "field 'pc': clients offer only on the 'publish' connection")
            tracks = [sfu.PublishedTrack(t.mid, t.source, t.muted) for t in msg.tracks]
            answer, created = await room.publish(participant.id, msg.sdp, tracks)
            self.send(m.Answer(pc="publish", sdp=answer, id=msg.id))
            self.send(m.Published(producers=[producer_info(p.describe()) for p in created], id=msg.id))
            if any(p.source == "camera" for p in created):
                await apply_kept_message(self, "set_effect")
        elif isinstance(msg, m.Answer):
            if msg.pc != "subscribe":
                raise ProtocolError("invalid_field", "field 'pc': clients answer only on the 'subscribe' connection")
            await participant.handle_subscribe_answer(msg.sdp)
        elif isinstance(msg, m.Candidate):
            c = msg.candidate
            await participant.add_ice_candidate(
                msg.pc, c.candidate if c else None, c.sdpMid if c else None, c.sdpMLineIndex if c else None
            )
        elif isinstance(msg, m.Unpublish):
            await room.unpublish(participant.id, ProducerId(msg.producer_id))
        elif isinstance(msg, m.Subscription):
            if msg.paused is False and (msg.max_width or msg.max_height) and not self.settings.get(
                "resolution_change_allowed", True
            ):
                raise ProtocolError("policy", "resolution change is switched off for this room")
            preference = Preference(msg.max_width, msg.max_height, msg.paused)
            room.set_preference(participant.id, ProducerId(msg.producer_id), preference)
            producer = room.find_producer(ProducerId(msg.producer_id))
            publisher = room.participants.get(producer.participant_id)
            if publisher is not None:
                self.kept.remember_subscription(publisher.identity, producer.source, preference)
                self._spawn(save_kept_choices(self))
        elif isinstance(msg, m.Mute):
            room.set_muted(participant.id, ProducerId(msg.producer_id), msg.muted)
        elif isinstance(msg, m.RequestResolution):
            if not self.settings.get("resolution_change_allowed", True):
                raise ProtocolError("policy", "resolution change is switched off for this room")
            producer = room.find_producer(ProducerId(msg.producer_id))
            target = self._peer(producer.participant_id)
            if target is not None:
                target.send(m.ResolutionRequested(producer_id=producer.id, max_height=msg.max_height))
        else:
            raise ProtocolError("unknown_type", f"message type {msg.type!r} is not handled here")

    def _peer(self, participant_id: str) -> ParticipantSession | None:
        registry = self.deps.registry
        if registry is None or self.context is None:
            return None
        return registry.get(self.context.room, participant_id)

    # ------------------------------------------------------------ joining

    async def _join(self, msg: m.Join) -> None:
        context = self.deps.verify_token(msg.token)  # raises JoinRefused
        keeper = self.deps.reconnects
        key = (context.room, context.identity)
        claimed = find_previous(keeper, self.deps.registry, context, self) if keeper is not None and keeper.enabled and not is_echo(context) else None
        previous = claimed[0] if claimed is not None else None
        participant_id = previous.participant_id if previous is not None and previous.participant_id else ParticipantId(new_id("PA"))
        try:
            decision = await self.deps.lobby.on_join(context, participant_id, _LobbyHandle(self), self.deps.clock())
        except BaseException:
            if claimed is not None and keeper is not None and previous is not None and previous.parked:
                keeper.unclaim(previous, key, claimed[1])
            raise
        if decision.outcome == "refuse" and claimed is not None and keeper is not None and previous is not None:
            if previous.parked:
                keeper.unclaim(previous, key, claimed[1])
        elif previous is not None:
            self.kept = await previous.hand_over(returning=decision.outcome == "admit")
            self._resumed = True
            if keeper is not None:
                keeper.took_over()
        elif keeper is not None and keeper.enabled:
            self.kept = await load_kept_choices(self.deps.choices, context)  # kept by another worker or node
        if decision.outcome == "refuse":
            before, reason, text, opens_at = split_refusal(decision)
            for out in before:
                self.send(out)
            raise JoinRefused(reason, text, {"opens_at": opens_at})
        if previous is None:  # nothing taken back: after the lobby's decision (it kept the queue place)
            await replace_older(self.deps.registry, context, self)
        self.context = context
        self.participant_id = participant_id
        self.settings = dict(decision.settings)
        self._started_at = decision.started_at
        if self.deps.registry is not None:
            self.deps.registry.add(self)
        for i, out in enumerate(decision.messages if decision.outcome == "wait" else ()):
            if i == 0 and out.id is None:
                out.id = msg.id  # the reply to 'join' carries its id, like 'joined' does
            self.send(out)
        if decision.outcome == "admit":
            await self.enter_room(started_at=decision.started_at, ref=msg.id)
            for out in decision.messages:
                self.send(out)
        else:
            self.state = SessionState.WAITING
            for on_waiting in self.deps.on_waiting:
                await on_waiting(self)

    async def hand_over(self, *, returning: bool) -> KeptChoices:
        """A re-join of the same participant takes this session over: its media leg leaves
        quietly (reason ``resumed``), the lobby is not told (the new session holds the same
        participant id there), a still-connected client gets ``bye`` ``replaced``. Not
        ``returning`` (the re-join waits, e.g. a guest whose client is not in): the others see
        the old leg leave."""
        if not self.parked:
            self.send(m.Bye(reason="replaced", message="you joined from another window or device"))
        self.parked = False
        self.state = SessionState.CLOSED
        self.close_reason = "replaced"
        await self._cancel_tasks()
        if self.room is not None:
            self.room.unsubscribe(self._on_room_event)
            if self.participant_id is not None:
                await self.room.leave(self.participant_id, RESUMED if returning else "disconnected")
        if self.deps.registry is not None:
            self.deps.registry.remove(self)
        await self._run_on_left(RESUMED)
        self.close_outbox()
        return self.kept

    async def enter_room(self, *, started_at: float | None = None, ref: str | None = None) -> None:
        """Join the media room (straight away, or when admitted from the waiting room)."""
        if self.state in (SessionState.JOINED, SessionState.CLOSED):
            return
        await self.deps.media.load_media_stack()  # the first room's imports, off the event loop
        if self.state in (SessionState.JOINED, SessionState.CLOSED):
            return
        context = self.context
        assert context is not None and self.participant_id is not None
        room = self.deps.media.room(RoomId(_media_room_id(context)), echo=is_echo(context))
        self.room = room
        room.subscribe(self._on_room_event)
        participant = room.join(
            self.participant_id,
            identity=context.identity,
            name=context.name,
            role=context.role,
            on_negotiation_needed=self._on_negotiation_needed,
        )
        self.participant = participant
        self.state = SessionState.JOINED
        others = [p for p in room.participants.values() if p.id != participant.id]
        producers = [pr.describe() for p in room.participants.values() for pr in p.producers.values()]
        self.send(
            m.Joined(
                id=ref,
                participant_id=participant.id,
                room=context.room,
                identity=context.identity,
                name=context.name,
                role=context.role,
                ice_servers=self._ice_servers(participant.id),
                settings=self.settings,
                participants=[participant_info(p) for p in others],
                producers=[producer_info(d) for d in producers],
                started_at=started_at,
                resumed=True if self._resumed else None,
            )
        )
        for on_joined in self.deps.on_joined:
            await on_joined(self)
        for other in room.participants.values():
            for producer in other.producers.values():
                apply_kept_subscription(self, room, other.identity, producer.id, producer.source)
        await apply_kept_message(self, "captions")

    def _ice_servers(self, participant_id: str) -> list[dict[str, Any]]:
        own = self.deps.ice_servers_for(participant_id, self.deps.clock()) if self.deps.ice_servers_for else []
        return [*self.deps.ice_servers, *own]

    # ------------------------------------------------------------ room events -> messages

    def _on_room_event(self, event: ev.RoomEvent) -> None:
        me = self.participant_id
        for msg in messages_for(event, me, self._returning):
            self.send(msg)
        if isinstance(event, ev.TrackPublished):
            publisher = self.room.participants.get(event.producer.participant_id) if self.room else None
            if event.producer.participant_id != me and publisher is not None and self.room is not None:
                apply_kept_subscription(self, self.room, publisher.identity, event.producer.producer_id, event.producer.source)
        elif isinstance(event, ev.CameraStalled):
            if event.participant_id == me:  # reported once, by the publisher's own session
                self._spawn(self._report_camera_problem(event))
        elif isinstance(event, ev.RoomClosed) and self.state is not SessionState.CLOSED:
            self.send(m.Bye(reason="ended"))
            self.state = SessionState.CLOSED
            self.close_outbox()

    async def _report_camera_problem(self, event: ev.CameraStalled) -> None:
        if self.context is not None:
            await self.deps.lobby.on_camera_problem(
                self.context.room, event.participant_id, event.producer_id, event.resolved, self.deps.clock()
            )

    def _spawn(self, coro: Any) -> None:
        """An owned background task: cancelled and awaited when the session closes."""
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------ renegotiation

    def _on_negotiation_needed(self, participant: Participant) -> None:
        if self.state is SessionState.CLOSED:
            return
        if self._negotiation_task is not None and not self._negotiation_task.done():
            self._negotiate_again = True
            return
        self._negotiation_task = asyncio.create_task(self._negotiate(participant))

    async def _negotiate(self, participant: Participant) -> None:
        while True:
            self._negotiate_again = False
            try:
                offer = await participant.create_subscribe_offer()
            except Exception:
                logger.exception("subscribe offer failed for %s", participant.id)
                return
            if offer is not None:
                sdp, consumers = offer
                self.send(
                    m.SubscribeOffer(
                        sdp=sdp,
                        consumers=[
                            m.ConsumerInfo(
                                mid=c.mid,
                                producer_id=c.producer_id,
                                participant_id=c.participant_id,
                                kind=c.kind,
                                source=c.source,
                            )
                            for c in consumers
                        ],
                    )
                )
            if not self._negotiate_again:
                return

    # ------------------------------------------------------------ closing

    async def close(self, reason: str, *, notify: bool = True, message: str | None = None) -> None:
        """Idempotent: leave the room, free everything, tell the client why.

        ``disconnected`` (the connection dropped without ``leave``) parks a waiting or
        joined session for the reconnect grace instead (signalling/resume.py).
        """
        if self.state is SessionState.CLOSED:
            return
        if reason == "disconnected" and not self.parked and may_park(self):
            park(self)
            return
        await self._close(reason, notify=notify, message=message)

    async def end_parked(self, reason: str, *, leave_lobby: bool = True) -> None:
        """The grace is over (or the server stops): the participant leaves for good."""
        if not self.parked:
            return
        self.parked = False
        await self._close(reason, notify=False, leave_lobby=leave_lobby)

    async def _cancel_tasks(self) -> None:
        for task in [self._negotiation_task, *self._tasks]:
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _run_on_left(self, reason: str) -> None:
        if self.context is None:
            return
        for on_left in self.deps.on_left:
            try:
                await on_left(self, reason)
            except Exception:
                logger.exception("on_left hook failed for %s", self.participant_id)

    async def _close(
        self, reason: str, *, notify: bool = True, message: str | None = None, leave_lobby: bool = True
    ) -> None:
        if self.state is SessionState.CLOSED:
            return
        if self.parked and self.context is not None and self.deps.reconnects is not None:
            self.deps.reconnects.forget(self, (self.context.room, self.context.identity))
            self.parked = False
        was_joined = self.state is SessionState.JOINED
        if notify:
            self.send(m.Bye(reason=reason, message=message))
        self.state = SessionState.CLOSED
        self.close_reason = self.close_reason or reason
        await self._cancel_tasks()
        if self.room is not None:
            self.room.unsubscribe(self._on_room_event)
            if self.participant_id is not None:
                await self.room.leave(self.participant_id, reason)
        if self.deps.registry is not None:
            self.deps.registry.remove(self)
        if self.context is not None and leave_lobby:
            await forget_kept_choices(self)
        if self.context is not None and self.participant_id is not None and leave_lobby:
            try:
                await self.deps.lobby.on_leave(self.context.room, self.participant_id, self.deps.clock())
            except Exception:
                logger.exception("lobby on_leave failed for %s", self.participant_id)
        await self._run_on_left(reason if was_joined else f"{reason}_while_waiting")
        self.close_outbox()


def _media_room_id(context: JoinContext) -> str:
    return f"echo:{context.identity}:{int(time.time() * 1000)}" if is_echo(context) else context.room


class _LobbyHandle:
    """What the lobby holds to reach a session: safe to use after the session closed."""

    def __init__(self, session: ParticipantSession) -> None:
        self._session = session

    async def send(self, msg: Message) -> None:
        self._session.send(msg)

    async def admit(self, started_at: float | None = None) -> None:
        session = self._session
        # A parked participant was admitted in the store; their re-join enters directly.
        if session.state is SessionState.WAITING and not session.parked:
            session.send(mw.Admitted())
            await session.enter_room(started_at=started_at or session._started_at)

    async def close(self, reason: str, message: str | None = None) -> None:
        await self._session.close(reason, message=message)
