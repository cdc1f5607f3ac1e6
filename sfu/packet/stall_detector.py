"""Notices when a publisher's video stops arriving although the track is not muted.

A frozen picture is the most common complaint in a video consultation; telling both sides
"the video of X is interrupted" (and when it comes back) beats a silent freeze. A muted camera
sends nothing on purpose, so muting ends a stall notice and holds the detector quiet; the
waiting time restarts on unmute. Before the first frame the clock starts at the first
``check`` (or ``set_muted(False, now)``), so a track that never delivers is reported too.
"""

from typing import Literal

StallEvent = Literal["stalled", "resumed"]


class StallDetectorError(ValueError):
    """Invalid construction argument for a VideoStallDetector."""


class VideoStallDetector:
    """Edge-triggered stall/resume events for one video producer."""

    __slots__ = ("_last_frame", "_muted", "_stalled", "_threshold", "stalls")

    def __init__(self, threshold: float = 3.0) -> None:
        if threshold <= 0:
            raise StallDetectorError(f"threshold must be > 0, got {threshold!r}")
        self._threshold = threshold
        self._last_frame: float | None = None  # or the time waiting started
        self._muted = False
        self._stalled = False
        self.stalls = 0

    @property
    def stalled(self) -> bool:
        return self._stalled

    @property
    def muted(self) -> bool:
        return self._muted

    def on_frame(self, now: float) -> None:
        """A video frame arrived from the publisher (the shell calls it on the marker bit)."""
        self._last_frame = now

    def set_muted(self, muted: bool, now: float | None = None) -> None:
        """The publisher (un)muted the track; on unmute the wait restarts at ``now``
        (or at the next ``check`` when not given)."""
        if self._muted and not muted:
            self._last_frame = now
        self._muted = muted

    def check(self, now: float) -> StallEvent | None:
        """ "stalled" once when no frame for ``threshold`` seconds while unmuted; "resumed"
        once when frames flow again (or the track is muted, which ends the stall)."""
        if self._muted:
            if self._stalled:
                self._stalled = False
                return "resumed"
            return None
        last = self._last_frame
        if last is None:
            self._last_frame = now
            return None
        late = now - last >= self._threshold
        if late and not self._stalled:
            self._stalled = True
            self.stalls += 1
            return "stalled"
        if not late and self._stalled:
            self._stalled = False
            return "resumed"
        return None

    def dump(self) -> dict[str, object]:
        return {
            "last_frame": self._last_frame,
            "muted": self._muted,
            "stalled": self._stalled,
            "stalls": self.stalls,
        }
