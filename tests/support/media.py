"""Synthetic media tracks for test peers: a moving test pattern and a tone."""

from __future__ import annotations

import fractions
import math
import time

import av
import numpy as np
from aiortc.mediastreams import AUDIO_PTIME, MediaStreamTrack

VIDEO_CLOCK = 90000


class PatternVideoTrack(MediaStreamTrack):
    """Colour bars that move, with a bright square: never black, never frozen."""

    kind = "video"

    def __init__(self, width: int = 640, height: int = 480, fps: int = 30, noise: bool = False) -> None:
        super().__init__()
        self._noise = np.random.default_rng(1) if noise else None
        self.width, self.height, self.fps = width, height, fps
        self._start: float | None = None
        self._count = 0
        bars = np.zeros((height, width, 3), np.uint8)
        colours = [(255, 255, 255), (255, 255, 0), (0, 255, 255), (0, 255, 0), (255, 0, 255), (255, 0, 0), (0, 0, 255)]
        for i, colour in enumerate(colours):
            bars[:, i * width // 7 : (i + 1) * width // 7] = colour
        self._bars = bars
        self.stopped_frames = False

    async def recv(self) -> av.VideoFrame:
        import asyncio

        if self._start is None:
            self._start = time.monotonic()
        target = self._start + self._count / self.fps
        delay = target - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        shift = (self._count * 8) % self.width
        img = np.roll(self._bars, shift, axis=1).copy()
        s = self.height // 6
        y = (self._count * 3) % (self.height - s)
        img[y : y + s, 20 : 20 + s] = 255
        if self._noise is not None:  # busy texture: many packets per frame, like a real camera
            h = self.height // 2
            img[h:, :] = self._noise.integers(0, 255, (self.height - h, self.width, 3), dtype=np.uint8)
        frame = av.VideoFrame.from_ndarray(img, format="rgb24")
        frame.pts = int(self._count * VIDEO_CLOCK / self.fps)
        frame.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        self._count += 1
        return frame


class ToneAudioTrack(MediaStreamTrack):
    """A 440 Hz tone in 20 ms frames at 48 kHz."""

    kind = "audio"

    def __init__(self, frequency: float = 440.0) -> None:
        super().__init__()
        self._start: float | None = None
        self._samples = 0
        self._freq = frequency

    async def recv(self) -> av.AudioFrame:
        import asyncio

        rate = 48000
        n = int(AUDIO_PTIME * rate)
        if self._start is None:
            self._start = time.monotonic()
        target = self._start + self._samples / rate
        delay = target - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        t = (np.arange(n) + self._samples) / rate
        data = (0.3 * 32767 * np.sin(2 * math.pi * self._freq * t)).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(data.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = rate
        frame.pts = self._samples
        frame.time_base = fractions.Fraction(1, rate)
        self._samples += n
        return frame
