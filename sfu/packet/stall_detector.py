"""Notices when a publisher's video stops arriving although the track is not muted.

A frozen picture is the most common complaint in a video consultation; telling both sides
"the video of X is interrupted" (and when it comes back) beats a silent freeze. A muted camera
sends nothing on purpose, so muting ends a stall notice and holds the detector quiet; the
waiting time restarts on unmute. Before the first frame the clock starts at the first
``check`` (or ``set_muted(False, now)``), so a track that never delivers is reported too.

"Stops arriving" means fewer than ``MIN_FPS`` frames a second over the last ``threshold``
seconds, not silence: when its camera stops (unplugged, track ended, a frozen driver) Firefox
keeps the stream alive by re-sending the last picture about once a second (measured with
Firefox ESR 153: ~1.3 frames/s after ``track.stop()``), where Chromium sends nothing. A frozen
picture is what the other person sees either way. A camera that really films runs at 5 fps or
more even in a dark room.
"""

from collections import deque
from math import ceil
from typing import Literal

StallEvent = Literal["stalled", "resumed"]


MIN_FPS = 2.0  # below this for a whole threshold, the picture is frozen (Firefox's keep-alive: ~1/s)


class StallDetectorError(ValueError):
    """Invalid construction argument for a VideoStallDetector."""


class VideoStallDetector:
    """Edge-triggered stall/resume events for one video producer."""

    __slots__ = ("_frames", "_muted", "_since", "_stalled", "_threshold", "stalls")

    def __init__(self, threshold: float = 3.0, min_fps: float = MIN_FPS) -> None:
        if threshold <= 0:
            raise StallDetectorError(f"threshold must be > 0, got {threshold!r}")
        if min_fps <= 0:
            raise StallDetectorError(f"min_fps must be > 0, got {min_fps!r}")
        self._threshold = threshold
        # the last frames' arrival times: enough of them within the threshold = a moving picture
        self._frames: deque[float] = deque(maxlen=max(1, ceil(min_fps * threshold)))
        self._since: float | None = None  # when watching started (first frame or check, unmute)
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
        self._frames.append(now)
        if self._since is None:
            self._since = now

    def set_muted(self, muted: bool, now: float | None = None) -> None:
        """The publisher (un)muted the track; on unmute the wait restarts at ``now``
        (or at the next ``check`` when not given)."""
        if self._muted and not muted:
            self._since = now
            self._frames.clear()
        self._muted = muted

    def _moving(self, now: float) -> bool:
        frames = self._frames
        return len(frames) == frames.maxlen and now - frames[0] < self._threshold

    def check(self, now: float) -> StallEvent | None:
        """ "stalled" once when fewer than ``min_fps`` frames a second arrived over the last
        ``threshold`` seconds while unmuted; "resumed" once when frames flow at that rate again
        (or the track is muted, which ends the stall)."""
        if self._muted:
            if self._stalled:
                self._stalled = False
                return "resumed"
            return None
        if self._since is None:
            self._since = now
            return None
        late = now - self._since >= self._threshold and not self._moving(now)
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
            "last_frame": self._frames[-1] if self._frames else None,
            "muted": self._muted,
            "stalled": self._stalled,
            "stalls": self.stalls,
        }
