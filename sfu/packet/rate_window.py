"""Bytes received over a sliding window, for the receive-side bandwidth estimate (REMB).

Gives exactly what aiortc's ``aiortc.rate.RateCounter`` gives (the REMB estimator asks it
for the incoming bitrate on every packet), at a fraction of the cost: aiortc keeps one
bucket per millisecond and, on every call, walks and clears each millisecond that went by
since the previous one (about ten per video packet at 100 packets/s); here the window holds
one entry per millisecond that actually received something, and erasing drops whole
entries. The equivalence is tested against aiortc's class on random arrival sequences
(tests/sfu/packet/test_rate_window.py).

Semantics kept from aiortc (and libwebrtc's RateStatistics): the window's origin starts at
the first sample's time and never moves back; ``rate(now)`` counts samples in
``[now - window + 1, now]`` over the active window ``now - origin + 1`` ms, scaled
(``scale`` 8000: bytes per ms -> bits per second), and is None until two milliseconds have
passed or when the window is empty.
"""

from __future__ import annotations

from collections import deque


class RateWindow:
    """Drop-in for ``aiortc.rate.RateCounter`` (``add``, ``rate``, ``reset``); times in ms.

    ``active`` answers ``rate(now) is not None`` more cheaply (the REMB estimator asks
    that on every packet).
    """

    __slots__ = ("_count", "_entries", "_origin_ms", "_scale", "_total", "_window")

    def __init__(self, window_size: int, scale: int = 8000) -> None:
        if window_size < 1:
            raise ValueError(f"window_size must be at least 1 ms, got {window_size!r}")
        self._window = window_size
        self._scale = scale
        self._entries: deque[list[int]] = deque()  # [ms, count, value], ms ascending
        self._origin_ms: int | None = None
        self._count = 0
        self._total = 0

    def add(self, value: int, now_ms: int) -> None:
        if self._origin_ms is None:
            self._origin_ms = now_ms
        else:
            self._erase_old(now_ms)
        entries = self._entries
        # An earlier time (the wall clock stepped back) joins the latest entry: the same
        # totals, erased a little later than aiortc would.
        if entries and entries[-1][0] >= now_ms:
            last = entries[-1]
            last[1] += 1
            last[2] += value
        else:
            entries.append([now_ms, 1, value])
        self._count += 1
        self._total += value

    def rate(self, now_ms: int) -> int | None:
        if self._origin_ms is None:
            return None
        self._erase_old(now_ms)
        active_window_size = now_ms - self._origin_ms + 1
        if self._count > 0 and active_window_size > 1:
            return round(self._scale * self._total / active_window_size)
        return None

    def active(self, now_ms: int) -> bool:
        """``rate(now_ms) is not None`` (the same window erased), without the division."""
        if self._origin_ms is None:
            return False
        self._erase_old(now_ms)
        return self._count > 0 and now_ms > self._origin_ms

    def reset(self) -> None:
        self._entries.clear()
        self._origin_ms = None
        self._count = 0
        self._total = 0

    def _erase_old(self, now_ms: int) -> None:
        new_origin_ms = now_ms - self._window + 1
        if self._origin_ms is None or self._origin_ms >= new_origin_ms:
            return
        self._origin_ms = new_origin_ms
        entries = self._entries
        while entries and entries[0][0] < new_origin_ms:
            _, count, value = entries.popleft()
            self._count -= count
            self._total -= value
