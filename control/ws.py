"""The signalling WebSocket endpoint: pumps frames between aiohttp and a ParticipantSession.

Two owned tasks per connection: this handler reads, a writer task drains the session's
bounded outbox. Whatever way the connection ends (client close, server close, error),
the session is closed, which frees the participant's media resources.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiohttp import WSMsgType, web

from signalling.session import ParticipantSession, SessionDeps

logger = logging.getLogger(__name__)

routes = web.RouteTableDef()
SESSION_DEPS = web.AppKey("session_deps", SessionDeps)
#: Sessions being closed. aiohttp cancels a handler whose client vanished; closing a
#: session (leaving the room, closing peer connections) must finish all the same, so it
#: runs as its own task, kept here and awaited at shutdown.
class ClosingSessions:
    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[None]] = set()


CLOSING = web.AppKey("closing_sessions", ClosingSessions)
# Frames up to this size are read and refused by the codec with a clear error (the
# connection survives); anything larger closes the connection (protects memory).
HARD_FRAME_LIMIT = 4 * 1024 * 1024


@routes.get("/ws")
async def websocket(request: web.Request) -> web.StreamResponse:
    ws = web.WebSocketResponse(heartbeat=20.0, max_msg_size=HARD_FRAME_LIMIT)
    await ws.prepare(request)
    session = ParticipantSession(request.app[SESSION_DEPS])
    writer = asyncio.create_task(_write(ws, session), name="ws-writer")
    try:
        async for frame in ws:
            if frame.type == WSMsgType.TEXT:
                await session.handle_text(frame.data)
            elif frame.type == WSMsgType.BINARY:
                session.error("bad_json", "binary frames are not accepted: send JSON text frames")
            elif frame.type == WSMsgType.ERROR:
                break
            if writer.done():
                break
    finally:
        closing = asyncio.create_task(_close_session(session, writer, ws), name="ws-close")
        tasks = request.app[CLOSING].tasks
        tasks.add(closing)
        closing.add_done_callback(tasks.discard)
        await asyncio.shield(closing)
    return ws


async def _close_session(session: ParticipantSession, writer: asyncio.Task[None], ws: web.WebSocketResponse) -> None:
    await session.close("disconnected", notify=False)
    with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
        await asyncio.wait_for(asyncio.shield(writer), timeout=2.0)
    if not writer.done():
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await writer
    with contextlib.suppress(Exception):
        await ws.close()


async def _write(ws: web.WebSocketResponse, session: ParticipantSession) -> None:
    while True:
        frame = await session.outbox.get()
        if frame is None:
            break
        try:
            await ws.send_str(frame)
        except (ConnectionResetError, RuntimeError):
            break
    await ws.close()
