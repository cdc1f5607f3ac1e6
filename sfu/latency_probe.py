"""Server-side forwarding latency, measured where it happens (opt-in, for benchmarks).

For a sampled packet: the time from its hand-over by aiortc (after SRTP decryption) to
the moment the last subscriber's copy has been handed to the kernel. That is the
latency the forwarding code adds; the network and the peers are not in it. Off by
default (``sfu.latency_probe``) so the packet path pays nothing for it.
"""

from __future__ import annotations

import bisect

#: Histogram bucket upper bounds in seconds (log-spaced, 10 us .. 1 s).
BOUNDS = (*tuple(b * 10.0 ** e for e in range(-5, 0) for b in (1.0, 1.5, 2.0, 3.0, 5.0, 7.0)), 1.0)


class LatencyProbe:
    __slots__ = ("_tick", "buckets", "count", "every", "total")

    def __init__(self, every: int = 4) -> None:
        self.every = every
        self.buckets = [0] * (len(BOUNDS) + 1)
        self.count = 0
        self.total = 0.0
        self._tick = 0

    def sample(self) -> bool:
        """True for one packet in ``every`` (decided before timing it)."""
        self._tick += 1
        return self._tick % self.every == 0

    def record(self, seconds: float) -> None:
        self.buckets[bisect.bisect_left(BOUNDS, seconds)] += 1
        self.count += 1
        self.total += seconds

    def quantile(self, q: float) -> float | None:
        """Upper bound of the bucket holding quantile ``q`` (conservative)."""
        if self.count == 0:
            return None
        rank = q * self.count
        seen = 0
        for i, n in enumerate(self.buckets):
            seen += n
            if seen >= rank:
                return BOUNDS[i] if i < len(BOUNDS) else float("inf")
        return float("inf")
