"""One registry of everything a consultation leaves behind, and one place that forgets it.

Every holder of consultation data registers here with a name, a forgetter (drop everything
kept for a room) and, when it holds content, a measure of the bytes it holds right now
(the ``/metrics`` gauge ``consult_sfu_consultation_bytes_held``; 0 when no consultation
runs). Two moments end things, and each holder says which one ends its data:

* :attr:`Lifetime.MEDIA_ROOM` — state bound to the media room (effects on producers,
  caption taps, shared files held by the room's owner): forgotten when the media room
  closes (everyone left this process's room) and at the end of the consultation;
* :attr:`Lifetime.CONSULTATION` — state that must survive a media room closing and
  re-opening (the chat transcript a client reconnecting finds again, the waiting-room
  chat of a client nobody has let in yet): forgotten only when the consultation is over
  (ended, or — for a room the control plane does not know — its media room closed).

The composition root calls :meth:`ConsultationMemory.media_room_closed` and
:meth:`ConsultationMemory.forget` (docs/architecture.md, "Nothing kept").
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

logger = logging.getLogger(__name__)

#: Called with a room id; must drop everything kept for that room.
Forgetter = Callable[[str], Awaitable[None] | None]
#: Bytes of consultation content the holder keeps now, for every room together.
HeldBytes = Callable[[], int]


class Lifetime(enum.Enum):
    MEDIA_ROOM = "media_room"
    CONSULTATION = "consultation"


@dataclass(frozen=True)
class Holder:
    name: str
    forget: Forgetter
    lifetime: Lifetime
    held_bytes: HeldBytes | None


class ConsultationMemory:
    """Registry of the holders of per-consultation state."""

    def __init__(self) -> None:
        self._holders: dict[str, Holder] = {}
        self.forget_calls = 0

    def register(
        self,
        name: str,
        forgetter: Forgetter,
        *,
        lifetime: Lifetime = Lifetime.MEDIA_ROOM,
        held_bytes: HeldBytes | None = None,
    ) -> None:
        if name in self._holders:
            raise ValueError(f"a holder named {name!r} is already registered")
        self._holders[name] = Holder(name, forgetter, lifetime, held_bytes)

    def holders(self) -> list[str]:
        return sorted(self._holders)

    def held_bytes(self) -> dict[str, int]:
        """Bytes each holder that measures them keeps now (the others are left out)."""
        out: dict[str, int] = {}
        for holder in self._holders.values():
            if holder.held_bytes is not None:
                try:
                    out[holder.name] = int(holder.held_bytes())
                except Exception:  # a broken measure must not break /metrics
                    logger.exception("measuring what %s holds failed", holder.name)
        return out

    def total_held_bytes(self) -> int:
        return sum(self.held_bytes().values())

    async def media_room_closed(self, room_id: str) -> list[str]:
        """The room's media closed here; the consultation may go on (people reconnect)."""
        return await self._run(room_id, [h for h in self._holders.values() if h.lifetime is Lifetime.MEDIA_ROOM])

    async def forget(self, room_id: str) -> list[str]:
        """The consultation is over: every holder drops the room. Returns those that failed (logged)."""
        return await self._run(room_id, list(self._holders.values()))

    async def _run(self, room_id: str, holders: list[Holder]) -> list[str]:
        failed = []
        for holder in holders:
            try:
                result = holder.forget(room_id)
                if result is not None:
                    await result
            except Exception:  # one failing holder must not keep the others' data alive
                logger.exception("forgetting room %s in %s failed", room_id, holder.name)
                failed.append(holder.name)
        self.forget_calls += 1
        return failed
