"""Load shedding: how often to segment so a stream keeps up with its frame rate.

Pure (sans-I/O): the caller passes the measured durations and frame timestamps in.

Segmentation is the expensive part of a frame; the rest (pixel-format conversion, blur,
composite) must be paid on every frame. With ``every = N`` the expected cost per frame is
``rest + segmentation / N``. After each frame we pick the smallest N (up to
``max_every``, at least ``min_every``) whose expected cost fits in the frame interval, from moving averages of
both durations. N goes down only with headroom (the cost at N-1 under
``relax_fraction`` of the interval), so it does not flap between two values. When even
``max_every`` does not fit, the pipeline's own frame dropping lowers the frame rate.

The frame interval is the smallest timestamp step seen over the last frames: when we are
slow the pipeline drops frames and the steps we see grow, which must not make us believe
we have more time per frame.
"""

from __future__ import annotations

import math
from collections import deque

#: Weight of the newest duration in the moving averages.
DURATION_SMOOTHING = 0.2
#: Lower N only when the cost at N-1 stays under this fraction of the interval.
RELAX_FRACTION = 0.8
INTERVAL_WINDOW = 30
MIN_INTERVAL = 1.0 / 120.0
MAX_INTERVAL = 1.0


class SegmentationScheduler:
    def __init__(self, max_every: int, default_interval: float, min_every: int = 1) -> None:
        self.max_every = max_every
        self.min_every = min_every
        self.every = min_every
        self._default_interval = default_interval
        self._steps: deque[float] = deque(maxlen=INTERVAL_WINDOW)
        self._last_timestamp: float | None = None
        self._since_segmentation: int | None = None  # None: no mask yet
        self._segmentation_avg: float | None = None
        self._rest_avg: float | None = None

    @property
    def interval(self) -> float:
        """Seconds between source frames (the budget of one frame)."""
        return min(self._steps) if self._steps else self._default_interval

    def observe_timestamp(self, timestamp: float | None) -> None:
        """The frame's presentation time in seconds (None if unknown)."""
        if timestamp is None:
            return
        if self._last_timestamp is not None:
            step = timestamp - self._last_timestamp
            if MIN_INTERVAL <= step <= MAX_INTERVAL:
                self._steps.append(step)
        self._last_timestamp = timestamp

    def should_segment(self) -> bool:
        """True for the frame about to be processed if it must be segmented."""
        return self._since_segmentation is None or self._since_segmentation + 1 >= self.every

    def invalidate(self) -> None:
        """The reused mask no longer fits (e.g. the frame size changed): segment next frame."""
        self._since_segmentation = None

    def record(self, segmentation: float | None, rest: float) -> None:
        """Durations (seconds) of the frame just processed; ``segmentation`` None if skipped."""
        if segmentation is None:
            self._since_segmentation = 1 if self._since_segmentation is None else self._since_segmentation + 1
        else:
            self._since_segmentation = 0
            self._segmentation_avg = _moving_average(self._segmentation_avg, segmentation)
        self._rest_avg = _moving_average(self._rest_avg, rest)
        self.every = max(self.min_every, self._choose_every())

    def _choose_every(self) -> int:
        if self._segmentation_avg is None or self._rest_avg is None:
            return self.every
        budget = self.interval
        spare = budget - self._rest_avg
        needed = self.max_every if spare <= 0 else min(self.max_every, max(1, math.ceil(self._segmentation_avg / spare)))
        if needed >= self.every:
            return needed
        # Fewer skips would fit: only relax one step at a time, and only with headroom.
        lower = self.every - 1
        if self._rest_avg + self._segmentation_avg / lower <= RELAX_FRACTION * budget:
            return lower
        return self.every


def _moving_average(average: float | None, value: float) -> float:
    return value if average is None else average + DURATION_SMOOTHING * (value - average)
