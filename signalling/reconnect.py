"""The reconnect grace period, sans I/O: who is away, until when (``now`` passed in).

A participant whose connection dropped (no ``leave``) is *away*: their session is parked,
keyed by who they are in the room (room, identity), until their deadline. A join of the
same key before it takes the session back (:meth:`GraceClock.take`); at the deadline they
have left (:meth:`GraceClock.expired`). The asyncio shell is signalling/resume.py.

``[session] reconnect_grace_s`` (:class:`SessionConfig`) sets the period; 0 switches the
grace off (a drop is a leave at once, as before issue 12).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K")

DEFAULT_RECONNECT_GRACE_S = 30.0
MAX_RECONNECT_GRACE_S = 3600.0


@dataclass(frozen=True)
class SessionConfig:
    """``[session]``: the signalling sessions' settings."""

    #: How long a participant whose connection dropped keeps their place (admitted status,
    #: waiting-queue place, role, choices) before they have left (s); 0: no grace.
    reconnect_grace_s: float = DEFAULT_RECONNECT_GRACE_S

    def __post_init__(self) -> None:
        if not 0 <= self.reconnect_grace_s <= MAX_RECONNECT_GRACE_S:
            raise ValueError(
                f"session.reconnect_grace_s must be 0 (no grace) to {MAX_RECONNECT_GRACE_S:g} s, got {self.reconnect_grace_s}"
            )


class GraceClock(Generic[K]):
    """Deadlines of the participants who are away, by key."""

    def __init__(self, grace_s: float) -> None:
        if grace_s < 0:
            raise ValueError(f"grace_s must be 0 or more, got {grace_s}")
        self.grace_s = grace_s
        self._deadlines: dict[K, float] = {}

    @property
    def enabled(self) -> bool:
        return self.grace_s > 0

    def start(self, key: K, now: float, deadline: float | None = None) -> float:
        """``key`` went away at ``now`` (or is put back with its earlier ``deadline``)."""
        at = now + self.grace_s if deadline is None else deadline
        self._deadlines[key] = at
        return at

    def deadline(self, key: K) -> float | None:
        return self._deadlines.get(key)

    def take(self, key: K, now: float) -> float | None:
        """``key`` came back: its deadline if it was still within it, else None (it has left)."""
        at = self._deadlines.pop(key, None)
        if at is None or now >= at:
            if at is not None:
                self._deadlines[key] = at  # expired: left for :meth:`expired` to report
            return None
        return at

    def forget(self, key: K) -> None:
        self._deadlines.pop(key, None)

    def expired(self, now: float) -> list[K]:
        """Keys whose grace is over at ``now`` (removed), earliest first."""
        gone = sorted((at, i, k) for i, (k, at) in enumerate(self._deadlines.items()) if now >= at)
        for _, _, key in gone:
            del self._deadlines[key]
        return [key for _, _, key in gone]

    def next_deadline(self) -> float | None:
        return min(self._deadlines.values(), default=None)

    def __len__(self) -> int:
        return len(self._deadlines)

    def __contains__(self, key: object) -> bool:
        return key in self._deadlines
