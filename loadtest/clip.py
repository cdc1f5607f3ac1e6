"""Pre-encoded media: a short VP8 clip (encoded once, then looped) and an Opus clip.

Each video frame carries a visual marker, the frame's index in the clip, drawn as a
row of black/white macroblock-aligned squares at the top left: two guard squares
(white, black) then eight bits, most significant first. A subscriber that decodes a
frame (``--decode-sample``) reads the index back, which survives a server that
re-encodes (MediaRelay). The rest of the picture is a moving gradient with some noise
so the encoder has real work and the bitrate is close to the requested one.
"""

from __future__ import annotations

import fractions
from dataclasses import dataclass

import av
import numpy as np
from aiortc.codecs.opus import OpusEncoder

MARKER_BITS = 8
MAX_CLIP_FRAMES = 1 << MARKER_BITS
_GUARDS = (True, False)
_cache: dict[tuple[int, int, int, int, int], VideoClip] = {}


class ClipError(Exception):
    """Clip parameters that cannot be encoded."""


@dataclass(frozen=True)
class VideoClip:
    frames: tuple[bytes, ...]  # VP8 frames; frames[0] is the only keyframe
    width: int
    height: int
    fps: int

    @property
    def bitrate_bps(self) -> float:
        return sum(len(f) for f in self.frames) * 8 * self.fps / len(self.frames)


@dataclass(frozen=True)
class AudioClip:
    packets: tuple[bytes, ...]  # Opus, 20 ms each, 48 kHz
    ptime_s: float = 0.02


def block_size(width: int) -> int:
    """Marker square side: a multiple of 16 so it stays macroblock aligned."""
    return 16 * max(1, width // 640)


def draw_marker(luma: np.ndarray, index: int) -> None:
    size = block_size(luma.shape[1])
    bits = list(_GUARDS) + [bool(index >> (MARKER_BITS - 1 - i) & 1) for i in range(MARKER_BITS)]
    for i, bit in enumerate(bits):
        luma[0:size, i * size : (i + 1) * size] = 235 if bit else 16


def read_marker(luma: np.ndarray) -> int | None:
    """The clip index drawn by :func:`draw_marker`, or None when the guards do not read."""
    size = block_size(luma.shape[1])
    quarter = size // 4
    bits: list[bool] = []
    for i in range(len(_GUARDS) + MARKER_BITS):
        centre = luma[quarter : size - quarter, i * size + quarter : (i + 1) * size - quarter]
        bits.append(float(centre.mean()) > 125.0)
    if tuple(bits[: len(_GUARDS)]) != _GUARDS:
        return None
    value = 0
    for bit in bits[len(_GUARDS) :]:
        value = value << 1 | int(bit)
    return value


def _picture(width: int, height: int, index: int, rng: np.random.Generator) -> av.VideoFrame:
    x = np.arange(width, dtype=np.float32)
    y = np.arange(height, dtype=np.float32)[:, None]
    phase = index * 6.0
    luma = 128 + 60 * np.sin((x + phase) / 37.0) * np.cos((y + phase / 2) / 29.0)
    luma = (luma + rng.normal(0, 8, (height, width))).clip(16, 235).astype(np.uint8)
    draw_marker(luma, index)
    yuv = np.full((height * 3 // 2, width), 128, dtype=np.uint8)
    yuv[:height] = luma
    frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
    frame.pts = index
    return frame


def video_clip(width: int, height: int, fps: int, bitrate_bps: int, frames: int) -> VideoClip:
    """Encode ``frames`` frames once (cached per parameters); frame 0 is the only keyframe."""
    if width < 160 or height < 64 or width % 16 or height % 16:
        raise ClipError("field 'resolution' must be at least 160x64 with both sides multiples of 16")
    if not 1 <= fps <= 60:
        raise ClipError("field 'fps' must be between 1 and 60")
    if not 2 <= frames <= MAX_CLIP_FRAMES:
        raise ClipError(f"field 'clip_frames' must be between 2 and {MAX_CLIP_FRAMES}")
    if not 50_000 <= bitrate_bps <= 20_000_000:
        raise ClipError("field 'bitrate' must be between 50 kbps and 20 Mbps")
    key = (width, height, fps, bitrate_bps, frames)
    if key in _cache:
        return _cache[key]
    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height, codec.pix_fmt = width, height, "yuv420p"
    codec.bit_rate = bitrate_bps
    codec.framerate = fractions.Fraction(fps, 1)
    codec.time_base = fractions.Fraction(1, fps)
    codec.gop_size = frames  # one keyframe per loop; PLIs restart the loop
    codec.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0", "max-intra-rate": "300"}
    rng = np.random.default_rng(7)
    out: list[bytes] = []
    for index in range(frames):
        for packet in codec.encode(_picture(width, height, index, rng)):
            out.append(bytes(packet))
    for packet in codec.encode(None):
        out.append(bytes(packet))
    if len(out) != frames:
        raise ClipError(f"encoder returned {len(out)} frames for {frames}")
    clip = VideoClip(tuple(out), width, height, fps)
    _cache[key] = clip
    return clip


def audio_clip(seconds: float = 1.0) -> AudioClip:
    """A 440 Hz tone encoded with aiortc's own Opus encoder settings."""
    encoder = OpusEncoder()
    samples_per_packet = 960
    packets: list[bytes] = []
    t = 0
    for _ in range(int(seconds / 0.02)):
        n = np.arange(t, t + samples_per_packet)
        tone = (3000 * np.sin(2 * np.pi * 440 * n / 48000)).astype(np.int16)
        stereo = np.repeat(tone, 2).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(stereo, format="s16", layout="stereo")
        frame.sample_rate = 48000
        frame.pts = t
        frame.time_base = fractions.Fraction(1, 48000)
        payloads, _ = encoder.encode(frame)
        packets.extend(payloads)
        t += samples_per_packet
    return AudioClip(tuple(packets))
