"""How the WebSocket endpoint (control/ws.py) asks the cluster where a join goes.

The endpoint hands each text frame that arrives before a join has gone through to
:meth:`JoinRouter.route`, which answers:

* :class:`ServeHere`: serve it here with the local session (``room``: held for the
  connection's lifetime, :meth:`JoinRouter.done` after; None: nothing held — not a join,
  a token refused here, an echo room);
* :class:`Piped`: the room's owner is another worker, which accepted the join over an
  internal WebSocket: the endpoint hands the client's socket to :meth:`JoinRouter.pipe`;
* :class:`Refuse`: the join cannot be placed (store unreachable, every worker full or
  draining): one ``access_refused`` with the reason, then close 4403;
* :class:`NotOwner`: (owner side) this worker does not own the room any more; the
  internal WebSocket is closed with :data:`NOT_OWNER` and the entrance asks again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

#: Close code of a forwarded link whose worker does not own the room (the entrance re-resolves).
NOT_OWNER = 4009
#: Close code telling a client to reconnect at once with the same token (owner lost, room moved,
#: node draining): 1012 "service restart" (RFC 6455 registry). No ``bye`` is sent before it.
RECONNECT = 1012


@dataclass(frozen=True)
class ServeHere:
    room: str | None = None


@dataclass(frozen=True)
class Piped:
    link: Any  # aiohttp.ClientWebSocketResponse to the owner
    first_reply: str | None
    room: str


@dataclass(frozen=True)
class Refuse:
    reason: str
    message: str


@dataclass(frozen=True)
class NotOwner:
    pass


Decision = ServeHere | Piped | Refuse | NotOwner


class Movable(Protocol):
    async def move(self) -> None: ...

    async def shut_down(self) -> None: ...


class JoinRouter(Protocol):
    async def route(self, text: str, client: str) -> Decision: ...

    async def done(self, room: str) -> None: ...

    def attach(self, room: str, connection: Movable) -> None: ...

    def detach(self, room: str, connection: Movable) -> None: ...

    async def pipe(self, client_ws: Any, piped: Piped) -> None: ...
