"""Chat wired into the server: ``install_chat(ctx)`` (one of control.app.DEFAULT_FEATURES).

What it adds:

* the ``chat_send`` handler on signalling sessions (signalling/messages_chat.py): checks
  the sender's state and rate, picks the thread, keeps the message in the transcript and
  sends it to everyone who may see it (:class:`ChatService`);
* ``chat_history`` to every participant after ``waiting`` and after ``joined`` (a
  reconnect gets it again, an admitted client gets the consultation's);
* ``GET/PUT /v1/chat/settings`` (the organisation's ``chat_retention``, :mod:`.api`);
* the recordings_off holder ``chat`` (lifetime: the consultation) and its bytes, and the
  ``/metrics`` figures ``chat_messages_total``, ``chat_transcripts_handed_over_total``.

Who may chat where — decided from the manual and docs/api.md's access window, written in
docs/signalling.md: a client (or guest) may chat exactly while they may be on the waiting
page or inside: from the opening of the access window (one hour before the appointment by
default, the manual's "you can chat one hour before the appointment") until the
consultation ends, whether they are early (waiting before the appointment's start), on
time or late (waiting after it). Before the window opens and after it closes the join
itself is refused (``too_early`` / ``too_late``) and so is the chat: nothing is accepted
from a connection that is not through the access rules, and there is no restricted
chat-only state. A client already waiting when the window closes keeps chatting until
they leave or the consultation ends, as they keep waiting.
"""

from __future__ import annotations

import logging

from aiohttp import web

from control import metrics
from control.features.chat import api
from control.features.chat.rate import TokenBucket
from control.features.chat.records import wire_message
from control.features.chat.service import ChatService
from control.features.context import FeatureContext
from control.metrics import Sample
from recordings_off import Lifetime
from signalling import messages_chat as mc
from signalling.codec import Message, ProtocolError
from signalling.session import ParticipantSession, SessionState

log = logging.getLogger(__name__)

CHAT_KEY = web.AppKey("chat_service", ChatService)


class ChatFeature:
    def __init__(self, service: ChatService) -> None:
        self.service = service
        self._buckets: dict[str, TokenBucket] = {}  # participant id -> rate limit

    async def on_chat_send(self, session: ParticipantSession, msg: Message) -> None:
        if not isinstance(msg, mc.ChatSend):  # registered for 'chat_send' only
            raise ProtocolError("unknown_type", f"message type {msg.type!r} is not handled here")
        context, me = session.context, session.participant_id
        if context is None or me is None or session.state not in (SessionState.WAITING, SessionState.JOINED):
            raise ProtocolError("wrong_state", "'chat_send' is accepted in the waiting room and in the consultation")
        self.check_rate(me)
        record = await self.service.send(session, kind=msg.kind, text=msg.text, url=msg.url, to=msg.to)
        session.send(wire_message(record, msg.id))

    def check_rate(self, participant_id: str) -> None:
        config = self.service.config
        now = self.service.clock()
        bucket = self._buckets.get(participant_id)
        if bucket is None:
            bucket = self._buckets[participant_id] = TokenBucket(config.rate_per_s, config.burst, now)
        wait_s = bucket.take(now)
        if wait_s > 0:
            raise ProtocolError(
                "rate_limited",
                f"too many messages: at most {config.burst} at once, then {config.rate_per_s:g} a second; "
                f"wait {wait_s:.1f} s",
            )

    async def on_entered(self, session: ParticipantSession) -> None:
        """In the waiting room, or inside the consultation (after a join, a reconnect, an admission)."""
        await self.service.send_history(session)

    async def on_left(self, session: ParticipantSession, reason: str) -> None:
        if session.participant_id is not None:
            self._buckets.pop(session.participant_id, None)

    def metrics(self) -> list[Sample]:
        return [
            Sample("chat_messages_total", "counter", "chat messages, links and file notices sent by this process", self.service.sent),
            Sample("chat_transcripts_handed_over_total", "counter", "chat transcripts handed to the chat_transcript webhook", self.service.handed_over),
        ]


def install_chat(ctx: FeatureContext) -> None:
    """Feature entry point (control.app.DEFAULT_FEATURES)."""
    service = ChatService(ctx.config.chat, ctx.plane, ctx.registry, clock=ctx.plane.consultations.clock)
    feature = ChatFeature(service)
    ctx.app[CHAT_KEY] = service
    ctx.app.cleanup_ctx.append(service.lifecycle)
    ctx.api.append(api.EXTENSION)
    ctx.sessions.handlers[mc.ChatSend.type] = feature.on_chat_send
    ctx.sessions.on_waiting.append(feature.on_entered)
    ctx.sessions.on_joined.append(feature.on_entered)
    ctx.sessions.on_left.append(feature.on_left)
    ctx.memory.register("chat", service.forget, lifetime=Lifetime.CONSULTATION, held_bytes=service.held_bytes)
    metrics.add_source(ctx.app, feature.metrics)
