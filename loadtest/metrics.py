"""Figures from probe counters: pure functions over two snapshots (a window) of a run."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from loadtest.probe import ProbeCounters, StreamProbe

Snapshot = dict[int, ProbeCounters]  # index in the run's probe list -> counters


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def rounded(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


@dataclass(frozen=True)
class WindowFigures:
    seconds: float
    streams: int  # video streams that received at least one frame in the window
    fps: list[float]  # per video stream present at both ends of the window
    video_kbps: list[float]
    packets: int  # media packets received, audio + video
    expected: int
    latencies_ms: list[float]
    latency_method: str  # "trailer", "decoded-marker" or "none"

    @property
    def loss_pct(self) -> float | None:
        if self.expected <= 0:
            return None
        return max(0.0, (self.expected - self.packets) / self.expected * 100.0)


def window_figures(probes: Sequence[StreamProbe], start: Snapshot, end: Snapshot) -> WindowFigures:
    fps: list[float] = []
    kbps: list[float] = []
    packets = expected = streams = 0
    seconds = 0.0
    t0 = t1 = 0.0
    for i, probe in enumerate(probes):
        a, b = start.get(i), end.get(i)
        if b is None:
            continue
        if a is None:
            a = ProbeCounters(b.at, 0, 0, 0, 0)
        dt = b.at - a.at
        if dt <= 0:
            continue
        seconds = max(seconds, dt)
        t0, t1 = a.at, b.at
        packets += b.packets - a.packets
        expected += b.expected - a.expected
        if probe.kind == "video":
            frames = b.frames - a.frames
            streams += frames > 0
            if i in start:
                fps.append(frames / dt)
                kbps.append((b.octets - a.octets) * 8 / dt / 1000)
    trailer = _latencies((p for p in probes if p.kind == "video"), t0, t1, decoded=False)
    marker = _latencies((p for p in probes if p.kind == "video"), t0, t1, decoded=True)
    method = "trailer" if trailer else "decoded-marker" if marker else "none"
    return WindowFigures(seconds, streams, fps, kbps, packets, expected, trailer or marker, method)


def _latencies(probes: Iterable[StreamProbe], t0: float, t1: float, *, decoded: bool) -> list[float]:
    out: list[float] = []
    for probe in probes:
        samples = probe.marker_latencies if decoded else probe.latencies
        for at, latency in reversed(samples):
            if at < t0:
                break
            if at <= t1:
                out.append(latency * 1000.0)
    return out
