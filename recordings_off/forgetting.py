"""One place that forgets everything a consultation left in memory when it ends."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

logger = logging.getLogger(__name__)

#: Called with a room id; must drop everything kept for that room.
Forgetter = Callable[[str], Awaitable[None] | None]


class ConsultationMemory:
    """Registry of the holders of per-consultation state; ``forget(room)`` clears them all."""

    def __init__(self) -> None:
        self._forgetters: dict[str, Forgetter] = {}
        self.forgotten: list[str] = []

    def register(self, name: str, forgetter: Forgetter) -> None:
        if name in self._forgetters:
            raise ValueError(f"a forgetter named {name!r} is already registered")
        self._forgetters[name] = forgetter

    def holders(self) -> list[str]:
        return sorted(self._forgetters)

    async def forget(self, room_id: str) -> list[str]:
        """Drop the room's state everywhere; returns the holders that failed (logged)."""
        failed = []
        for name, forgetter in self._forgetters.items():
            try:
                result = forgetter(room_id)
                if result is not None:
                    await result
            except Exception:  # one failing holder must not keep the others' data alive
                logger.exception("forgetting room %s in %s failed", room_id, name)
                failed.append(name)
        self.forgotten.append(room_id)
        del self.forgotten[:-100]
        return failed
