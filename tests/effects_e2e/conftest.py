"""Shared pieces of the end-to-end effects tests: a camera that films a real photograph.

The photograph is the portrait matplotlib ships (see tests/effects/conftest.py for the
hand-labelled regions). The track pans it by a couple of pixels back and forth, like a
camera on a desk, so the encoder sends real inter frames and the mask has to follow.
"""

from __future__ import annotations

import asyncio
import fractions
import time

import av
import numpy as np
from aiortc.mediastreams import MediaStreamTrack

from tests.effects.conftest import BACKGROUND_BOXES, FACE, FLAG, box, laplacian_variance, photo_bgr

VIDEO_CLOCK = 90000
MARGIN = 4  # pixels of pan on each axis

__all__ = ["BACKGROUND_BOXES", "FACE", "FLAG", "PhotoVideoTrack", "box", "frame_bgr", "laplacian_variance"]


class PhotoVideoTrack(MediaStreamTrack):
    """Grace Hopper's portrait at width x height, slowly panned by up to MARGIN pixels."""

    kind = "video"

    def __init__(self, width: int = 640, height: int = 480, fps: int = 15) -> None:
        super().__init__()
        self.width, self.height, self.fps = width, height, fps
        self._big = photo_bgr(width + MARGIN, height + MARGIN)
        self._start: float | None = None
        self._count = 0

    def reference(self) -> np.ndarray:
        """The picture with no pan (what the middle of the motion looks like)."""
        half = MARGIN // 2
        return self._big[half : half + self.height, half : half + self.width]

    def at_offsets(self) -> list[np.ndarray]:
        """The picture at every pan position the track sends."""
        return [self._big[o : o + self.height, o : o + self.width] for o in range(MARGIN + 1)]

    async def recv(self) -> av.VideoFrame:
        if self._start is None:
            self._start = time.monotonic()
        delay = self._start + self._count / self.fps - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        step = self._count % (2 * MARGIN)
        offset = step if step <= MARGIN else 2 * MARGIN - step
        image = self._big[offset : offset + self.height, offset : offset + self.width]
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="bgr24")
        frame.pts = int(self._count * VIDEO_CLOCK / self.fps)
        frame.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        self._count += 1
        return frame


def frame_bgr(frame: object) -> np.ndarray:
    assert isinstance(frame, av.VideoFrame), f"expected a video frame, got {type(frame).__name__}"
    return frame.to_ndarray(format="bgr24")
