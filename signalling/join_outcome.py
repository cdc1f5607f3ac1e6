"""Two join rules the session applies, kept out of signalling/session.py.

* A refused join gets exactly one ``access_refused`` (the lobby's, or one made from the
  token's refusal) and then the close code ``CLOSE_REFUSED``: :func:`split_refusal`.
* One connection per identity and room, the newer wins: :func:`replace_older` closes an
  older session of the same identity with ``bye`` ``replaced`` (used when the reconnect
  grace does not take that session over, see signalling/resume.py).

All sessions of a room run in the worker that owns it (control/cluster/routing.py), so a
worker's registry sees every connection of an identity to that room.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from signalling import messages_waiting as mw
from signalling.codec import Message
from signalling.lobby import JoinContext, LobbyDecision

if TYPE_CHECKING:
    from signalling.registry import SessionRegistry
    from signalling.session import ParticipantSession

#: WebSocket close codes the edge uses (docs/signalling.md, "Closing").
CLOSE_NORMAL = 1000
CLOSE_REFUSED = 4403
CLOSE_SLOW_CLIENT = 1008


def split_refusal(decision: LobbyDecision) -> tuple[list[Message], str, str, float | None]:
    """(messages to send before the refusal, reason, text, opens_at) of a ``refuse`` decision."""
    refused = next((x for x in decision.messages if isinstance(x, mw.AccessRefused)), None)
    others = [out for out in decision.messages if out is not refused]
    if refused is None:
        reason = decision.reason or "refused"
        return others, reason, f"joining is refused: {reason}", None
    return others, refused.reason, refused.message, refused.opens_at


async def replace_older(registry: SessionRegistry | None, context: JoinContext, joining: ParticipantSession) -> None:
    """Close every other session of ``context``'s identity in its room: ``bye`` ``replaced``."""
    if registry is None or context.extra.get("echo"):  # echo rooms (the network test) are private
        return
    for older in registry.in_room(context.room):
        if older is not joining and older.context is not None and older.context.identity == context.identity:
            await older.close("replaced", message="you joined from another window or device")
