"""Reconnect with state kept (issue 12 item 4): parked sessions, their grace, the take-over.

A session whose connection dropped without ``leave`` (a WebSocket gone, a reload, a
network change) is *parked* instead of closed: it stays in the media room (its peer
connections may well still carry media), in the waiting queue (its presence stays in the
store, so its ``waiting_since`` does) and in the lobby, and the others in the room get
``participant_reconnecting`` (``reconnecting: true``). Its grace is kept by a sans-I/O
:class:`~signalling.reconnect.GraceClock`; :class:`ReconnectKeeper` is the asyncio shell:
one owned timer task that ends the sessions whose grace is over (then they leave as any
participant does: ``participant_left``, the lobby's leave, webhooks).

**Who may take a session back**: a ``join`` whose verified token names the same room and
the same identity (the token's ``sub``). The identity is the platform's stable id of the
person; the token proves it, as at the first join. The new session takes the parked one's
participant id, so the others see the same participant come back (``participant_reconnecting``
with ``reconnecting: false``), never ``participant_left`` + ``participant_joined``; the
lobby decides again (the access window is checked at every connect) and, the stale
presence being replaced by the rules, keeps the queue place; an identity admitted once
re-enters directly (control/domain/rules.py). A join of an identity whose session is still
connected (the server has not noticed the drop yet: a network change) takes it over the
same way, and the old socket gets ``bye`` with reason ``replaced``.

What the new session inherits (:class:`KeptChoices`): the subscription preferences, by
publisher identity and source (producer ids change when a publisher reconnects), and the
participant's last ``set_effect`` and ``captions`` choices, applied again once their
target exists (the effect when the camera is published again).

Sessions live in the process serving the room; in a cluster every socket of a room is
served by the room's owner (control/cluster/), so a re-join through any node reaches the
parked session. When the room moved (owner lost, drain), the store keeps the presence and
the admitted list (a returning identity replaces its stale entry and keeps its place);
the choices are read back from the store (:class:`ChoicesStore`, written when they change).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from sfu import Preference, ProducerId, SfuError
from signalling import messages as m
from signalling.codec import Message, ProtocolError, decode, encode
from signalling.reconnect import GraceClock

if TYPE_CHECKING:
    from sfu import Room  # brings aiortc: loaded at the first room (sfu/__init__.py)
    from signalling.lobby import JoinContext
    from signalling.registry import SessionRegistry
    from signalling.session import ParticipantSession

logger = logging.getLogger(__name__)

#: Leave reason of a participant's old media leg when its re-join took it over: the
#: others' sessions say nothing (the participant did not leave).
RESUMED = "resumed"
#: Message types whose last accepted value a re-join inherits (handled by features).
KEPT_MESSAGE_TYPES = ("captions", "set_effect")
#: Subscription preferences kept per participant (a bound on what a client can make us hold).
MAX_KEPT_SUBSCRIPTIONS = 64

Key = tuple[str, str]  # (room, identity)


@dataclass
class KeptChoices:
    """What a participant chose, handed from a parked session to the one that takes it back."""

    #: (publisher identity, source) -> the preference the participant set on that track
    subscriptions: dict[tuple[str, str], Preference] = field(default_factory=dict)
    #: message type -> the last accepted message of that type (its ``id`` cleared)
    messages: dict[str, Message] = field(default_factory=dict)
    #: what was last written to (or read from) the ChoicesStore
    saved: bytes | None = field(default=None, compare=False)

    def remember_subscription(self, publisher_identity: str, source: str, preference: Preference) -> None:
        key = (publisher_identity, source)
        if preference.max_width is None and preference.max_height is None and not preference.paused:
            self.subscriptions.pop(key, None)  # no cap, not paused: the preference is removed
            return
        if key not in self.subscriptions and len(self.subscriptions) >= MAX_KEPT_SUBSCRIPTIONS:
            return
        self.subscriptions[key] = preference

    def remember_message(self, msg: Message) -> bool:
        """Keep ``msg`` if it is a choice a re-join inherits; whether it was kept."""
        if msg.type not in KEPT_MESSAGE_TYPES or getattr(msg, "participant_id", None) is not None:
            return False  # a practitioner setting captions for someone else is that someone's choice
        msg.id = None
        self.messages[msg.type] = msg
        return True

    def to_bytes(self) -> bytes:
        subscriptions = [[i, s, p.max_width, p.max_height, p.paused] for (i, s), p in self.subscriptions.items()]
        return json.dumps({"subscriptions": subscriptions, "messages": [encode(x) for x in self.messages.values()]}).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> KeptChoices:
        """Read back :meth:`to_bytes`; anything that does not check out is left out."""
        kept = cls()
        try:
            body = json.loads(raw)
        except ValueError:
            return kept
        if not isinstance(body, dict):
            return kept
        for entry in body.get("subscriptions", [])[:MAX_KEPT_SUBSCRIPTIONS]:
            with contextlib.suppress(TypeError, ValueError):
                identity, source, width, height, paused = entry
                if isinstance(identity, str) and isinstance(source, str):
                    kept.subscriptions[(identity, source)] = Preference(width, height, bool(paused))
        for text in body.get("messages", [])[: len(KEPT_MESSAGE_TYPES)]:
            with contextlib.suppress(ProtocolError, TypeError):
                kept.remember_message(decode(text))
        return kept


class ChoicesStore(Protocol):
    """Where a participant's kept choices wait for a re-join served by another worker or node
    (control/reconnect_choices.py: the control plane's store). Bytes in, bytes out."""

    async def save(self, room: str, identity: str, data: bytes) -> None: ...

    async def load(self, room: str, identity: str) -> bytes | None: ...

    async def drop(self, room: str, identity: str, expected: bytes) -> None:
        """Delete the record if it still holds ``expected`` (what this session wrote last)."""
        ...


# ---------------------------------------------------------------- a session's kept choices


async def save_kept_choices(session: ParticipantSession) -> None:
    """Write the session's choices to the :class:`ChoicesStore` (an owned task of the session;
    the last one to run writes the latest state, so concurrent saves need no ordering)."""
    store, ctx = session.deps.choices, session.context
    if store is None or ctx is None:
        return
    data = session.kept.to_bytes()
    if data == session.kept.saved:
        return
    session.kept.saved = data
    try:
        await store.save(ctx.room, ctx.identity, data)
    except Exception as exc:  # the store is down: the choices stay kept in this process
        logger.warning("session %s: kept choices not stored: %s", session.participant_id, exc)


async def load_kept_choices(store: ChoicesStore | None, context: JoinContext) -> KeptChoices:
    if store is None:
        return KeptChoices()
    try:
        raw = await store.load(context.room, context.identity)
    except Exception as exc:
        logger.warning("kept choices of %s unavailable: %s", context.identity, exc)
        return KeptChoices()
    if raw is None:
        return KeptChoices()
    kept = KeptChoices.from_bytes(raw)
    kept.saved = raw
    return kept


async def forget_kept_choices(session: ParticipantSession) -> None:
    """The participant left for good: their choices go (unless a later session rewrote them)."""
    store, ctx, saved = session.deps.choices, session.context, session.kept.saved
    if store is None or ctx is None or saved is None:
        return
    try:
        await store.drop(ctx.room, ctx.identity, saved)
    except Exception as exc:
        logger.warning("session %s: kept choices not deleted (they expire): %s", session.participant_id, exc)


def apply_kept_subscription(session: ParticipantSession, room: Room, identity: str, producer_id: str, source: str) -> None:
    """A track the participant had a preference on (by publisher identity and source) is there."""
    preference = session.kept.subscriptions.get((identity, source))
    if preference is None or session.participant_id is None:
        return
    try:
        room.set_preference(session.participant_id, ProducerId(producer_id), preference)
    except SfuError as exc:  # e.g. no leg for our own track: nothing to keep
        logger.debug("session %s: kept preference not applied: %s", session.participant_id, exc)


async def apply_kept_message(session: ParticipantSession, type_name: str) -> None:
    """Apply a choice the participant made before reconnecting, as if sent again."""
    msg = session.kept.messages.get(type_name)
    handler = session.deps.handlers.get(type_name)
    if msg is None or handler is None or session.state.value != "joined":
        return
    try:
        await handler(session, msg)
    except (ProtocolError, SfuError) as exc:
        logger.info("session %s: kept %s not applied: %s", session.participant_id, type_name, exc.message)


# ---------------------------------------------------------------- parking


def may_park(session: ParticipantSession) -> bool:
    """A dropped connection parks its session: waiting or joined, reconnect grace on, not an echo
    test, not dropped by the server for not reading (``close_reason`` already set)."""
    keeper, ctx = session.deps.reconnects, session.context
    return (
        keeper is not None
        and keeper.enabled
        and session.state.value in ("waiting", "joined")
        and ctx is not None
        and session.participant_id is not None
        and not ctx.extra.get("echo")
        and session.close_reason is None
    )


def park(session: ParticipantSession) -> None:
    """Stop sending (the socket is gone), start the grace, tell the others in the media room."""
    keeper, ctx = session.deps.reconnects, session.context
    assert keeper is not None and ctx is not None
    session.close_outbox()  # the writer stops
    session.parked = True
    keeper.park(session, (ctx.room, ctx.identity))
    if session.state.value == "joined" and session.participant_id is not None:
        notice = m.ParticipantReconnecting(participant_id=session.participant_id, reconnecting=True)
        registry = session.deps.registry
        for other in registry.in_room(ctx.room) if registry is not None else ():
            if other is not session and other.room is session.room and other.state.value == "joined":
                other.send(notice)


def find_previous(
    keeper: ReconnectKeeper, registry: SessionRegistry | None, context: JoinContext, joining: ParticipantSession
) -> tuple[ParticipantSession, float] | None:
    """The session a join of ``context`` takes back, with its grace deadline: the parked one of
    the same room and identity, else one still connected (the server did not notice the drop
    yet; no deadline: ``inf``)."""
    claimed = keeper.claim((context.room, context.identity))
    if claimed is not None:
        return claimed
    for other in registry.in_room(context.room) if registry is not None else ():
        ctx = other.context
        if (
            other is not joining
            and ctx is not None
            and ctx.identity == context.identity
            and other.state.value in ("waiting", "joined")
            and not other.parked
            and not ctx.extra.get("echo")
        ):
            return other, float("inf")
    return None


class ReconnectKeeper:
    """The parked sessions of one process and the task that ends them when their grace is over."""

    def __init__(self, grace_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock_source = clock
        self._grace: GraceClock[Key] = GraceClock(grace_s)
        self._parked: dict[Key, ParticipantSession] = {}
        self._wake = asyncio.Event()
        self._timer: asyncio.Task[None] | None = None
        self._ending: set[asyncio.Task[None]] = set()
        self._closed = False
        #: sessions taken back within the grace / ended by it (for /metrics and tests)
        self.resumed = 0
        self.expired = 0

    @property
    def enabled(self) -> bool:
        return self._grace.enabled and not self._closed

    @property
    def grace_s(self) -> float:
        return self._grace.grace_s

    def park(self, session: ParticipantSession, key: Key) -> None:
        previous = self._parked.get(key)
        if previous is not None and previous is not session:
            # Cannot happen through claim(); if it did, the older one must still end.
            self._end_soon(previous)
        self._parked[key] = session
        self._grace.start(key, self.clock_source())
        self._ensure_timer()
        self._wake.set()

    def claim(self, key: Key) -> tuple[ParticipantSession, float] | None:
        """A join of ``key``: the parked session (off the clock) and its deadline, if within the grace."""
        session = self._parked.get(key)
        if session is None:
            return None
        deadline = self._grace.take(key, self.clock_source())
        if deadline is None:
            return None  # its grace is over: the timer ends it
        del self._parked[key]
        return session, deadline

    def unclaim(self, session: ParticipantSession, key: Key, deadline: float) -> None:
        """The join that claimed it was refused: back on the clock with its own deadline."""
        if self._closed:
            self._end_soon(session)
            return
        self._parked[key] = session
        self._grace.start(key, self.clock_source(), deadline=deadline)
        self._ensure_timer()
        self._wake.set()

    def took_over(self) -> None:
        self.resumed += 1

    def forget(self, session: ParticipantSession, key: Key) -> None:
        """The parked session closed for another reason (denied, ended)."""
        if self._parked.get(key) is session:
            del self._parked[key]
            self._grace.forget(key)

    def dump(self) -> dict[str, object]:
        now = self.clock_source()
        return {
            "grace_s": self._grace.grace_s,
            "parked": [
                {"room": room, "identity": identity, "participant_id": s.participant_id,
                 "left_in_s": round((self._grace.deadline((room, identity)) or now) - now, 3)}
                for (room, identity), s in self._parked.items()
            ],
            "resumed": self.resumed,
            "expired": self.expired,
        }

    # ------------------------------------------------------------ the timer

    def _ensure_timer(self) -> None:
        if self._timer is None and not self._closed:
            self._timer = asyncio.create_task(self._run(), name="reconnect-grace")

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            now = self.clock_source()
            for key in self._grace.expired(now):
                session = self._parked.pop(key, None)
                if session is not None:
                    self.expired += 1
                    self._end_soon(session)
            deadline = self._grace.next_deadline()
            timeout = None if deadline is None else max(0.0, deadline - self.clock_source())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    def _end_soon(self, session: ParticipantSession, *, leave_lobby: bool = True, reason: str = "disconnected") -> None:
        task = asyncio.create_task(session.end_parked(reason, leave_lobby=leave_lobby), name="reconnect-expired")
        self._ending.add(task)
        task.add_done_callback(self._ending.discard)

    async def close(self) -> None:
        """Shutdown: the timer stops; parked sessions end without leaving the waiting room.

        Their presence stays in the store, as a lost node's would: a participant who comes
        back (to this server restarted, or to another node) keeps their place.
        """
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
            self._timer = None
        parked, self._parked = list(self._parked.values()), {}
        self._grace.expired(float("inf"))
        for session in parked:
            self._end_soon(session, leave_lobby=False, reason="server_shutdown")
        while self._ending:
            await asyncio.gather(*list(self._ending), return_exceptions=True)
