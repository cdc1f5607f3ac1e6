"""A constrained network link, sans I/O (time passed in): what a relay does to each datagram.

Two honest models of a narrow link (the kernel of the test machines has no ``tc`` queueing
disciplines, docs/performance.md):

* ``"queue"``: a drop-tail queue served at ``rate_bps`` (a home router, a mobile base
  station): a datagram waits behind the ones before it and is dropped when its wait would
  exceed ``buffer_s``. Delay grows before loss starts, so a delay-based estimate (REMB) sees it.
* ``"policer"``: a token bucket of ``burst_bytes`` refilled at ``rate_bps`` (an ISP's rate
  limit, nftables ``limit rate over``): a datagram passes at once or is dropped; no queueing
  delay, so only loss tells.

``offer(size, now)`` answers when the datagram leaves the link (``now`` or later) or None
(dropped). ``rate_bps`` None: no limit.
"""

from __future__ import annotations

from typing import Literal

LimitMode = Literal["queue", "policer"]


class RateLimit:
    def __init__(
        self,
        rate_bps: float | None = None,
        mode: LimitMode = "queue",
        *,
        buffer_s: float = 0.3,
        burst_bytes: int = 10_000,
    ) -> None:
        if mode not in ("queue", "policer"):
            raise ValueError(f"mode must be 'queue' or 'policer', got {mode!r}")
        self.mode: LimitMode = mode
        self.buffer_s = buffer_s
        self.burst_bytes = burst_bytes
        self.rate_bps: float | None = None
        self._busy_until = 0.0
        self._tokens = float(burst_bytes)
        self._tokens_at: float | None = None
        self.passed = 0
        self.dropped = 0
        self.bytes_passed = 0
        #: every datagram offered, passed or dropped (what the sender sent into the link)
        self.bytes_offered = 0
        self.set_rate(rate_bps)

    def set_rate(self, rate_bps: float | None) -> None:
        if rate_bps is not None and rate_bps <= 0:
            raise ValueError(f"rate_bps must be positive or None, got {rate_bps!r}")
        self.rate_bps = rate_bps

    def offer(self, size: int, now: float) -> float | None:
        """When a datagram of ``size`` bytes offered at ``now`` leaves the link; None: dropped."""
        self.bytes_offered += size
        rate = self.rate_bps
        if rate is None:
            leave: float | None = max(now, self._busy_until)  # keep order behind a draining queue
        elif self.mode == "policer":
            leave = self._police(size, now, rate)
        else:
            start = max(now, self._busy_until)
            if start - now > self.buffer_s:
                leave = None
            else:
                self._busy_until = leave = start + size * 8 / rate
        if leave is None:
            self.dropped += 1
        else:
            self.passed += 1
            self.bytes_passed += size
        return leave

    def _police(self, size: int, now: float, rate: float) -> float | None:
        if self._tokens_at is not None:
            self._tokens = min(float(self.burst_bytes), self._tokens + (now - self._tokens_at) * rate / 8)
        self._tokens_at = now
        if self._tokens < size:
            return None
        self._tokens -= size
        return now
