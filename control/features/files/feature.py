"""Shared files wired into the server: ``install_files(ctx)`` (one of control.app.DEFAULT_FEATURES).

What it adds:

* ``POST /files/<room>`` and ``GET /files/<room>/<file_id>`` on the main app (:mod:`.api`);
* ``get_file_link`` on signalling sessions: a download link for one file, valid
  ``[files] link_ttl_s`` (60 s) and only for the participant who asked while inside;
* ``file_limits`` after ``joined`` (what the page's file picker may offer);
* the recordings_off holder ``files`` (lifetime: the media room — files are gone the moment
  the room's media closes, the consultation ends or the server stops) with its bytes, and
  the /metrics figures ``files_held``, ``files_uploading``, ``files_shared_total``,
  ``files_downloads_total``.

A shared file is also a message of the consultation's chat (kind ``file``: name, size, type;
never the bytes), so it appears in the history and, with ``hand_over``, in the transcript.
The vault lives in the process that serves the room's participants — the room's owner.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from urllib.parse import quote

from aiohttp import web

from control import metrics
from control.domain.model import RoomState
from control.features.chat.feature import CHAT_KEY
from control.features.chat.records import ChatRecord, wire_message
from control.features.chat.service import ChatService
from control.features.context import FeatureContext
from control.features.files import api, links
from control.features.files.config import FilesConfig
from control.features.files.kinds import KINDS
from control.features.files.vault import FileVault, HeldFile
from control.metrics import Sample
from control.store import Store, StoreError
from recordings_off import Lifetime
from signalling import messages_chat as mc
from signalling.codec import Message, ProtocolError
from signalling.session import ParticipantSession, SessionRegistry, SessionState


class FilesFeature:
    def __init__(self, config: FilesConfig, chat: ChatService, registry: SessionRegistry, store: Store, secret: str) -> None:
        self.config = config
        self.chat = chat
        self.registry = registry
        self.store = store
        self.secret = secret
        self.link_key = links.link_key(secret)
        self.vault = FileVault(config)
        self.clock: Callable[[], float] = time.time
        self.downloads = 0

    async def lifecycle(self, _: web.Application) -> AsyncIterator[None]:
        yield
        self.vault.close()  # the server stops: every file is gone

    def inside(self, room: str, identity: str) -> ParticipantSession | None:
        """This identity's session inside the consultation of ``room`` on this process."""
        for session in self.registry.in_room(room):
            if session.state is SessionState.JOINED and session.context is not None and session.context.identity == identity:
                return session
        return None

    async def room_ended(self, room: str) -> bool:
        try:
            stored = await self.store.get_room(room)
        except StoreError:
            return False
        return stored is not None and stored.state is RoomState.ENDED

    async def share(self, session: ParticipantSession, held: HeldFile) -> ChatRecord:
        """Tell everyone inside (the uploader too): a ``file`` message of the consultation's chat."""
        record = await self.chat.send(session, kind="file", file=held.info())
        session.send(wire_message(record))
        return record

    async def on_get_file_link(self, session: ParticipantSession, msg: Message) -> None:
        if not isinstance(msg, mc.GetFileLink):  # registered for 'get_file_link' only
            raise ProtocolError("unknown_type", f"message type {msg.type!r} is not handled here")
        context, me = session.context, session.participant_id
        if session.state is not SessionState.JOINED or context is None or me is None:
            raise ProtocolError("wrong_state", "files can be downloaded inside the consultation")
        if not self.vault.has(context.room, msg.file_id):
            raise ProtocolError("not_found", "this file is no longer available: files are deleted when the consultation ends")
        expires_at = self.clock() + self.config.link_ttl_s
        token = links.mint(self.link_key, links.Link(context.room, msg.file_id, me, expires_at))
        url = f"files/{quote(context.room, safe='')}/{msg.file_id}?t={token}"
        session.send(mc.FileLink(id=msg.id, file_id=msg.file_id, url=url, expires_at=expires_at))

    async def on_joined(self, session: ParticipantSession) -> None:
        extensions = sorted({ext for kind in self.config.kinds for ext in KINDS[kind].extensions})
        session.send(mc.FileLimits(max_file_bytes=self.config.max_file_bytes, max_room_bytes=self.config.max_room_bytes, extensions=extensions))

    def metrics(self) -> list[Sample]:
        held, uploading = self.vault.counts()
        return [
            Sample("files_held", "gauge", "shared files held for running consultations", held),
            Sample("files_uploading", "gauge", "uploads in progress", uploading),
            Sample("files_shared_total", "counter", "files shared", self.vault.shared),
            Sample("files_downloads_total", "counter", "complete downloads of shared files", self.downloads),
        ]


FILES_KEY = web.AppKey("files_feature", FilesFeature)


def install_files(ctx: FeatureContext) -> None:
    """Feature entry point (control.app.DEFAULT_FEATURES); needs the chat feature, installed before."""
    if CHAT_KEY not in ctx.app:
        raise RuntimeError("the files feature needs the chat feature (install_chat) installed before it")
    chat = ctx.app[CHAT_KEY]
    feature = FilesFeature(ctx.config.files, chat, ctx.registry, ctx.plane.store, ctx.plane.consultations.secret)
    chat.file_available = feature.vault.has
    ctx.app[FILES_KEY] = feature
    ctx.app.cleanup_ctx.append(feature.lifecycle)
    ctx.app.router.add_routes(api.routes)
    ctx.sessions.handlers[mc.GetFileLink.type] = feature.on_get_file_link
    ctx.sessions.on_joined.append(feature.on_joined)
    ctx.memory.register("files", feature.vault.forget, lifetime=Lifetime.MEDIA_ROOM, held_bytes=feature.vault.held_bytes)
    metrics.add_source(ctx.app, feature.metrics)
