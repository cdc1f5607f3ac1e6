"""The last packets sent on one subscriber leg, kept to answer the subscriber's NACKs.

A fixed ring of ``capacity`` slots indexed by ``seq % capacity``; each slot remembers which
sequence number it holds, so a lookup after the 16-bit wrap (65535 -> 0) or after the slot was
reused by a newer packet never returns the wrong data. No allocation per store beyond what the
caller already made (the packet bytes).

Resends are rate limited per sequence number (a NACK storm must not multiply the leg's
bandwidth): at most one per ``min_interval`` after the last resend, and none before
``original_hold`` after the original send, both passed per lookup by the caller (see
:mod:`.leg_repair`: they come from the leg's round trip), and refused for packets older than ``max_age``: by then the receiver's jitter
buffer has given up on them, and a stale slot could belong to a previous wrap of the space.
"""

from .seqnum import SEQ_MASK


class PacketCacheError(ValueError):
    """Invalid construction argument for a PacketCache."""


class PacketCache:
    """Ring of recently sent packets keyed by outgoing sequence number."""

    __slots__ = (
        "_capacity",
        "_data",
        "_last_nack",
        "_last_resend",
        "_max_age",
        "_min_resend_interval",
        "_newest",
        "_seqs",
        "_stored_at",
        "expired",
        "last_repeat_gap",
        "misses",
        "resent",
        "suppressed",
    )

    def __init__(
        self,
        capacity: int = 512,
        *,
        min_resend_interval: float = 0.015,
        max_age: float = 1.0,
    ) -> None:
        if not isinstance(capacity, int) or not 1 <= capacity <= SEQ_MASK + 1:
            raise PacketCacheError(f"capacity must be an int in [1, 65536], got {capacity!r}")
        if min_resend_interval < 0:
            raise PacketCacheError(f"min_resend_interval must be >= 0, got {min_resend_interval!r}")
        if max_age <= 0:
            raise PacketCacheError(f"max_age must be > 0, got {max_age!r}")
        self._capacity = capacity
        self._min_resend_interval = min_resend_interval
        self._max_age = max_age
        self._seqs = [-1] * capacity
        self._data: list[bytes | None] = [None] * capacity
        self._stored_at = [0.0] * capacity
        self._last_resend: list[float | None] = [None] * capacity
        self._last_nack: list[float | None] = [None] * capacity
        #: the sequence number stored last (-1: none)
        self._newest = -1
        #: after a lookup: time since the previous NACK of the same packet (None: first)
        self.last_repeat_gap: float | None = None
        self.resent = 0
        self.suppressed = 0
        self.expired = 0
        self.misses = 0

    @property
    def capacity(self) -> int:
        return self._capacity

    def store(self, seq: int, data: bytes, now: float) -> None:
        """Remember ``data`` (the packet exactly as sent) under outgoing ``seq``."""
        slot = seq % self._capacity
        self._seqs[slot] = seq
        self._data[slot] = data
        self._stored_at[slot] = now
        self._last_resend[slot] = None
        self._last_nack[slot] = None
        self._newest = seq

    def newest(self, count: int) -> list[bytes]:
        """Up to ``count`` of the packets stored last, newest first (those still held)."""
        out: list[bytes] = []
        newest = self._newest
        if newest < 0:
            return out
        capacity = self._capacity
        for back in range(min(count, capacity)):
            seq = (newest - back) & SEQ_MASK
            slot = seq % capacity
            data = self._data[slot]
            if self._seqs[slot] == seq and data is not None:
                out.append(data)
        return out

    def get_for_nack(
        self, seq: int, now: float, min_interval: float | None = None, original_hold: float = 0.0
    ) -> bytes | None:
        """The packet to resend for a NACK of ``seq``, or None (unknown, too old, too soon).

        Too soon: resent less than ``min_interval`` ago (default ``min_resend_interval``), or
        never resent and sent less than ``original_hold`` ago."""
        slot = seq % self._capacity
        self.last_repeat_gap = None
        if self._seqs[slot] != seq:
            self.misses += 1
            return None
        previous_nack = self._last_nack[slot]
        self._last_nack[slot] = now
        if previous_nack is not None:
            self.last_repeat_gap = now - previous_nack
        if now - self._stored_at[slot] > self._max_age:
            self.expired += 1
            return None
        last = self._last_resend[slot]
        if last is None:
            if now - self._stored_at[slot] < original_hold:
                self.suppressed += 1
                return None
        elif now - last < (self._min_resend_interval if min_interval is None else min_interval):
            self.suppressed += 1
            return None
        self._last_resend[slot] = now
        self.resent += 1
        return self._data[slot]

    def clear(self) -> None:
        """Forget everything (e.g. the leg's SSRC changed)."""
        for i in range(self._capacity):
            self._seqs[i] = -1
            self._data[i] = None
            self._last_resend[i] = None
            self._last_nack[i] = None
        self._newest = -1

    def stats(self) -> dict[str, int]:
        return {
            "resent": self.resent,
            "suppressed": self.suppressed,
            "expired": self.expired,
            "misses": self.misses,
        }
