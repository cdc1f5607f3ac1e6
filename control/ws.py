"""The signalling WebSocket endpoint: pumps frames between aiohttp and a ParticipantSession.

Two owned tasks per connection: this handler reads, a writer task drains the session's
bounded outbox. Whatever way the connection ends (client close, server close, error),
the session is closed, which frees the participant's media resources.

In a cluster (control/cluster/), frames before the join is through go to the app's
:class:`~control.cluster.routing.JoinRouter` first: a join for a room owned by another
worker is handed to the router, which pipes the socket to that worker
(control/cluster/entrance.py); the internal endpoint serves forwarded sockets with this
same function.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from aiohttp import WSMsgType, web

from control import forwarded
from control.cluster.routing import (
    NOT_OWNER,
    RECONNECT,
    JoinRouter,
    NotOwner,
    Piped,
    Refuse,
    ServeHere,
)
from control.ratelimit import Limits, retry_after
from signalling.bounded_json import loads_bounded
from signalling.messages import Error
from signalling.session import ParticipantSession, SessionDeps, SessionState

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


class OpenSockets:
    """Participant sockets being served, for :func:`close_open_sockets` at shutdown."""

    def __init__(self) -> None:
        self.connections: set[_Connection] = set()


OPEN = web.AppKey("open_sockets", OpenSockets)


async def close_open_sockets(app: web.Application) -> None:
    """``on_shutdown``: every participant still connected gets ``bye`` ``server_shutdown`` and
    its socket is closed, now.

    aiohttp's shutdown waits for running handlers before the cleanup contexts close the
    sessions, so a client that keeps its socket open would hold the stop until the
    connection timeout (~30 s) and then see 1006 without a ``bye``. A drain (``serve`` on
    SIGTERM, control/cluster/worker.py) has closed or moved its connections by now; sockets
    already closing (moved with 1012) are left alone.
    """
    connections = [c for c in app[OPEN].connections if not c.ws.closed]
    await asyncio.gather(*(c.shut_down() for c in connections), return_exceptions=True)


#: The cluster's router of joins (absent: every join is served here).
ROUTER = web.AppKey("join_router", JoinRouter)
# Frames up to this size are read and refused by the codec with a clear error (the
# connection survives); anything larger closes the connection (protects memory).
HARD_FRAME_LIMIT = 4 * 1024 * 1024
#: Put in a session's outbox to stop its writer without closing the socket (handed over).
_HANDOVER = "\x00handover"


_CLIENT = web.RequestKey("consult_client_address", str)
#: joins per client address and per token (absent: no limits)
LIMITS = web.AppKey("join_limits", Limits)


def client_address(request: web.Request) -> str:
    """The participant's address: forwarded by a signed entrance, else the socket's peer."""
    return str(request.get(_CLIENT) or request.remote or "")


#: ``[server] trusted_proxies``, parsed (control/forwarded.py)
TRUSTED_PROXIES = web.AppKey("trusted_proxies", tuple[forwarded.Network, ...])


@routes.get("/ws")
async def websocket(request: web.Request) -> web.StreamResponse:
    client = forwarded.client_address(request.remote or "", request.headers.get("X-Forwarded-For"), request.app.get(TRUSTED_PROXIES, ()))
    logger.info("participant socket from %s", client)
    return await serve_websocket(request, request.app, request.app.get(ROUTER), client)


async def serve_websocket(
    request: web.Request, app: web.Application, router: JoinRouter | None, client: str
) -> web.StreamResponse:
    """Serve one participant's socket with the session deps of ``app`` (the main application).

    ``client``: the client's address (the socket's peer, or the one a signed entrance
    forwarded); :func:`client_address` reads it back.
    """
    request[_CLIENT] = client
    limits = app.get(LIMITS)
    if limits is not None:
        wait = limits.join_from(client, time.monotonic())
        if wait:
            message = f"too many connections from your address: retry in {retry_after(wait)} s"
            return web.json_response(
                {"error": {"code": "rate_limited", "message": message}}, status=429, headers={"Retry-After": retry_after(wait)}
            )
    ws = web.WebSocketResponse(heartbeat=20.0, max_msg_size=HARD_FRAME_LIMIT)
    await ws.prepare(request)
    session = ParticipantSession(app[SESSION_DEPS])
    writer = asyncio.create_task(_write(ws, session), name="ws-writer")
    held: str | None = None
    connection = _Connection(ws, session)
    handed_over: Piped | NotOwner | None = None
    joined = False
    open_sockets = app[OPEN].connections
    open_sockets.add(connection)
    try:
        async for frame in ws:
            if frame.type == WSMsgType.TEXT:
                if router is not None and held is None and session.state is SessionState.CONNECTED:
                    decision = await router.route(frame.data, client)
                    if isinstance(decision, Piped | NotOwner):
                        handed_over = decision
                        break
                    if isinstance(decision, Refuse):
                        await session.refuse(decision.reason, decision.message, ref=_message_id(frame.data))
                        break
                    if isinstance(decision, ServeHere) and decision.room is not None:
                        held = decision.room
                        router.attach(held, connection)
                if limits is not None and session.state is SessionState.CONNECTED:
                    refusal = _join_refusal(limits, frame.data)
                    if refusal is not None:
                        session.send(Error(code="rate_limited", message=refusal, id=_message_id(frame.data)))
                        await session.close("rate_limited", notify=False)
                        break
                await session.handle_text(frame.data)
                if not joined and session.state is SessionState.JOINED and session.context is not None:
                    joined = True  # ids only: names are the participants' data
                    logger.info("session joined room %s as %s (%s)", session.context.room, session.participant_id, session.context.role)
            elif frame.type == WSMsgType.BINARY:
                session.error("bad_json", "binary frames are not accepted: send JSON text frames")
            elif frame.type == WSMsgType.ERROR:
                break
            if writer.done():
                break
    finally:
        open_sockets.discard(connection)
        if joined:
            logger.info("session %s closed", session.participant_id)
        if handed_over is None:
            closing = asyncio.create_task(_close_session(session, writer, ws, router, held, connection), name="ws-close")
            tasks = app[CLOSING].tasks
            tasks.add(closing)
            closing.add_done_callback(tasks.discard)
            await asyncio.shield(closing)
    if handed_over is not None:
        # Nothing was allocated for this session (no join went through): stop its writer once
        # it has sent what was queued (a pong), without closing the socket, and hand it over.
        session.outbox.put_nowait(_HANDOVER)
        await writer
        await session.close("forwarded", notify=False)
        if isinstance(handed_over, NotOwner):
            await ws.close(code=NOT_OWNER, message=b"not the owner")
        elif router is not None:
            await router.pipe(ws, handed_over)
    return ws


def _join_refusal(limits: Limits, text: str) -> str | None:
    """A join whose token joined too often lately: the message to refuse it with; else None."""
    with contextlib.suppress(ValueError, TypeError):
        body = loads_bounded(text)
        if isinstance(body, dict) and body.get("type") == "join" and isinstance(body.get("token"), str):
            wait = limits.join_with_token(body["token"], time.monotonic())
            if wait:
                return f"too many joins with this link: retry in {retry_after(wait)} s"
    return None


def _message_id(text: str) -> str | None:
    with contextlib.suppress(ValueError, TypeError):
        body = loads_bounded(text)
        ref = body.get("id") if isinstance(body, dict) else None
        if isinstance(ref, str):
            return ref
    return None


class _Connection:
    """This socket, as the cluster moves it (drain, room placed elsewhere)."""

    def __init__(self, ws: web.WebSocketResponse, session: ParticipantSession) -> None:
        self.ws = ws
        self.session = session

    async def move(self) -> None:
        await self.ws.close(code=RECONNECT, message=b"reconnect")

    async def shut_down(self) -> None:
        await self.session.close("server_shutdown")


async def _close_session(
    session: ParticipantSession,
    writer: asyncio.Task[None],
    ws: web.WebSocketResponse,
    router: JoinRouter | None = None,
    held: str | None = None,
    connection: _Connection | None = None,
) -> None:
    await session.close("disconnected", notify=False)
    with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
        await asyncio.wait_for(asyncio.shield(writer), timeout=2.0)
    if not writer.done():
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await writer
    with contextlib.suppress(Exception):
        await ws.close()
    if router is not None and held is not None:
        if connection is not None:
            router.detach(held, connection)
        await router.done(held)


async def _write(ws: web.WebSocketResponse, session: ParticipantSession) -> None:
    while True:
        frame = await session.outbox.get()
        if frame is None:
            break
        if frame is _HANDOVER:
            return
        try:
            await ws.send_str(frame)
        except (ConnectionResetError, RuntimeError):
            break
    await ws.close(code=session.close_code)
