"""Any worker is an entrance: a join for a room owned elsewhere is forwarded there.

The entrance reads the first ``join``, verifies its token (refusals stay local: the local
session answers them as always), and resolves the room's owner (placing the room if it is
free). If the owner is this worker, the join is served here. Otherwise the entrance opens
a WebSocket to the owner's internal endpoint (signed: :mod:`control.cluster.auth`, with the
client's address), replays the ``join``, and once the owner has answered it pipes frames
both ways until either side closes. Media never passes here: the owner's SDP carries the
owner's ICE candidates.

Why forwarding rather than redirecting: it is transparent to every client that follows
docs/signalling.md (browsers, the JS client, the load tester, third-party clients), needs
no extra message or second connection, keeps one public address (and one TLS certificate,
one firewall rule) for the signalling of a whole cluster, and costs one hop on a LAN or
loopback per signalling frame — small frames, a few per second — measured in
docs/performance.md.

Failures: an owner that cannot be reached is asked again every :data:`RETRY_S` until its
lease expires and the room is placed again (never two owners) — or sooner, when its
internal endpoint refuses connections *and* its lease has missed a renewal: a live worker
keeps its listener open and renews every second, so both together mean the process is gone
(:meth:`control.cluster.registry.ClusterRegistry.resolve`);
an owner that answers :data:`~control.cluster.routing.NOT_OWNER` (it released the room a
moment ago) makes the entrance resolve again. When the link to the owner breaks during the
session, the client's socket is closed with :data:`~control.cluster.routing.RECONNECT`
(1012, no ``bye``): the client re-joins at once with the same token and reaches the room's
current owner through any entrance.

Echo rooms (the network test of /settings) are always served by the entrance.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp import WSMsgType, web

from control.cluster.auth import forward_headers
from control.cluster.records import WorkerRecord
from control.cluster.registry import NoWorkerAvailable
from control.cluster.routing import (
    NOT_OWNER,
    RECONNECT,
    Decision,
    Movable,
    NotOwner,
    Piped,
    Refuse,
    ServeHere,
)
from control.cluster.worker import Worker
from control.store import StoreError
from signalling.codec import ProtocolError, decode
from signalling.lobby import JoinContext
from signalling.messages import Join
from signalling.session import JoinRefused, is_echo

log = logging.getLogger(__name__)

#: Wait between attempts at an owner that could not be reached (its lease may still run).
RETRY_S = 0.2
#: Time limit to open the internal WebSocket to an owner.
CONNECT_TIMEOUT_S = 2.0
#: Ping period of the internal link: an owner that stops answering is noticed within ~1.5 periods.
LINK_HEARTBEAT_S = 4.0
#: NOT_OWNER answers tolerated for one join before giving up.
MAX_NOT_OWNER = 4
HARD_FRAME_LIMIT = 4 * 1024 * 1024
#: Close codes that mean the owner went away rather than closed the session on purpose.
_ABNORMAL = {None, 1006, 1011, 1012, 1013, 1014}

UNAVAILABLE = "the service is unavailable right now; try again in a minute"


def _join_context(text: str, verify_token: Callable[[str], JoinContext]) -> JoinContext | None:
    """The verified context of a ``join`` frame; None for anything the local session answers."""
    try:
        msg = decode(text)
    except ProtocolError:
        return None
    if not isinstance(msg, Join):
        return None
    try:
        context = verify_token(msg.token)
    except JoinRefused:
        return None
    return None if is_echo(context) else context


class _RouterBase:
    def __init__(self, worker: Worker, verify_token: Callable[[str], JoinContext]) -> None:
        self.worker = worker
        self.verify_token = verify_token

    async def done(self, room: str) -> None:
        await self.worker.release(room)

    def attach(self, room: str, connection: Movable) -> None:
        self.worker.attach(room, connection)

    def detach(self, room: str, connection: Movable) -> None:
        self.worker.detach(room, connection)

    async def pipe(self, client_ws: Any, piped: Piped) -> None:
        raise NotImplementedError("only an entrance pipes")


class OwnerRouter(_RouterBase):
    """The internal endpoint's router: serve a forwarded join only if this worker owns the room."""

    async def route(self, text: str, client: str) -> Decision:
        context = _join_context(text, self.verify_token)
        if context is None:
            return ServeHere()
        try:
            accepted = await self.worker.accept(context.room)
        except StoreError as exc:
            log.warning("room %s: cannot check its placement: %s", context.room, exc)
            return Refuse("unavailable", UNAVAILABLE)
        return ServeHere(context.room) if accepted else NotOwner()


class EntranceRouter(_RouterBase):
    """The public endpoint's router: serve here, or forward to the room's owner."""

    def __init__(self, worker: Worker, verify_token: Callable[[str], JoinContext], key: bytes) -> None:
        super().__init__(worker, verify_token)
        self.key = key
        self._http: aiohttp.ClientSession | None = None
        self.forwarded = 0  # joins piped to another worker

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def route(self, text: str, client: str) -> Decision:
        context = _join_context(text, self.verify_token)
        if context is None:
            return ServeHere()
        room = context.room
        suspects: set[str] = set()
        not_owner = 0
        give_up = time.monotonic() + self.worker.config.lease_s + 2.0
        while True:
            try:
                resolution = await self.worker.registry.resolve(room, self.worker.record(), suspects=suspects)
            except StoreError as exc:
                log.warning("room %s: cannot resolve its owner: %s", room, exc)
                return Refuse("unavailable", UNAVAILABLE)
            except NoWorkerAvailable as exc:
                return Refuse("unavailable", str(exc))
            owner = resolution.owner
            if owner.worker_id == self.worker.worker_id:
                try:
                    if await self.worker.accept(room, placed_here=True):
                        return ServeHere(room)
                except StoreError:
                    return Refuse("unavailable", UNAVAILABLE)
                return Refuse("unavailable", "this server is shutting down; try again in a moment")
            link, refused = await self._connect(owner, client)
            if refused:
                suspects.add(owner.worker_id)  # nothing listens there: dead once its lease misses a renewal
            reply: aiohttp.WSMessage | None = None
            if link is not None:
                await link.send_str(text)
                reply = await link.receive()
                if reply.type is WSMsgType.TEXT:
                    self.forwarded += 1
                    return Piped(link, str(reply.data), room)
                code = link.close_code
                await link.close()
                if code == NOT_OWNER and not_owner < MAX_NOT_OWNER:
                    not_owner += 1
                    continue
                if code not in _ABNORMAL:
                    return Refuse("unavailable", UNAVAILABLE)
            if time.monotonic() > give_up:
                log.warning("room %s: owner %s unreachable and its lease still runs; giving up", room, owner.worker_id)
                return Refuse("unavailable", UNAVAILABLE)
            await asyncio.sleep(RETRY_S)

    async def _connect(self, owner: WorkerRecord, client: str) -> tuple[aiohttp.ClientWebSocketResponse | None, bool]:
        """The link to the owner, or (None, whether the connection was refused)."""
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, connect=CONNECT_TIMEOUT_S))
        headers = forward_headers(self.key, self.worker.worker_id, client, time.time())
        try:
            link = await asyncio.wait_for(
                self._http.ws_connect(
                    owner.internal_url + "/internal/ws",
                    headers=headers,
                    heartbeat=LINK_HEARTBEAT_S,
                    max_msg_size=HARD_FRAME_LIMIT,
                    timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=2.0),
                ),
                CONNECT_TIMEOUT_S * 2,
            )
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            log.info("cannot reach owner %s at %s: %s", owner.worker_id, owner.internal_url, exc)
            refused = isinstance(exc, aiohttp.ClientConnectorError) and isinstance(exc.os_error, ConnectionRefusedError)
            return None, refused or isinstance(exc, ConnectionRefusedError)
        return link, False

    async def pipe(self, client_ws: web.WebSocketResponse, piped: Piped) -> None:
        """Frames both ways until either side closes; the client's close code tells it what to do."""
        link: aiohttp.ClientWebSocketResponse = piped.link
        connection = _PipeConnection(client_ws, link)
        self.worker.add_pipe(connection)
        try:
            if piped.first_reply is not None:
                await client_ws.send_str(piped.first_reply)
            up = asyncio.create_task(_client_to_owner(client_ws, link), name="pipe-up")
            down = asyncio.create_task(_owner_to_client(link, client_ws), name="pipe-down")
            try:
                await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (up, down):
                    task.cancel()
                await asyncio.gather(up, down, return_exceptions=True)
            if not client_ws.closed:
                code = link.close_code
                if connection.moved or code in _ABNORMAL:
                    await client_ws.close(code=RECONNECT, message=b"reconnect")
                else:
                    await client_ws.close(code=code or 1000)
        finally:
            with contextlib.suppress(Exception):
                await link.close()
            self.worker.remove_pipe(connection)


async def _client_to_owner(client_ws: web.WebSocketResponse, link: aiohttp.ClientWebSocketResponse) -> None:
    async for frame in client_ws:
        if frame.type == WSMsgType.TEXT:
            await link.send_str(frame.data)
        elif frame.type == WSMsgType.BINARY:
            await link.send_bytes(frame.data)  # the owner's session refuses it with a clear error
        elif frame.type == WSMsgType.ERROR:
            break


async def _owner_to_client(link: aiohttp.ClientWebSocketResponse, client_ws: web.WebSocketResponse) -> None:
    async for msg in link:
        if msg.type == WSMsgType.TEXT:
            await client_ws.send_str(msg.data)
        elif msg.type == WSMsgType.ERROR:
            break


class _PipeConnection:
    """A client piped through this entrance to another worker (moved when this worker drains)."""

    def __init__(self, client_ws: web.WebSocketResponse, link: aiohttp.ClientWebSocketResponse) -> None:
        self.client_ws = client_ws
        self.link = link
        self.moved = False

    async def move(self) -> None:
        self.moved = True
        await self.client_ws.close(code=RECONNECT, message=b"reconnect")
        await self.link.close()

    async def shut_down(self) -> None:
        await self.move()
