"""Runs one scenario against one target: joins at the configured rate, measures, cleans up.

Every wait is bounded (join timeout per participant, fixed measuring windows, a hard
deadline for the whole run). Participants, tracks and decode tasks are owned here and
closed in ``finally``; the target itself is started and stopped by the caller.
"""

from __future__ import annotations

import asyncio
import functools
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiortc import RTCRtpReceiver

from loadtest import clip as clips
from loadtest.config import RunConfig
from loadtest.metrics import Snapshot, WindowFigures, percentile, rounded, window_figures
from loadtest.probe import StreamProbe, install_probe, read_decoded
from loadtest.scenarios import PeerPlan, plan, publishers_per_room
from loadtest.server_stats import ProcSample, core_busy_s, sample
from loadtest.targets.base import Participant, PeerContext, PublisherRef, Target
from loadtest.tracks import PacketAudioTrack, PacketVideoTrack, SendLog

Progress = Callable[[str], None]


@dataclass
class JoinRecord:
    identity: str
    started_at: float
    ready_at: float | None = None
    subscribed_at: float | None = None
    error: str | None = None


@dataclass
class Tick:
    """One point of the time series (per second)."""

    t: float
    streams: int
    fps_p50: float | None
    latency_ms_p50: float | None
    loss_pct: float | None
    server_cpu_s_per_s: float | None
    server_rss_mb: float | None


@dataclass
class Window:
    seconds: float  # wall-clock length of the window (figures.seconds is 0 without streams)
    figures: WindowFigures
    start: Snapshot
    end: Snapshot
    server_cpu_s: float | None
    server_rss_mb: float | None
    packets_forwarded: int | None
    tester_cpu_s: float
    server_core_busy_s: float | None  # whole pinned CPU, every process: shows contention


@dataclass
class ScenarioRun:
    target: Target
    cfg: RunConfig
    progress: Progress
    probes: list[StreamProbe] = field(default_factory=list)
    logs: dict[str, SendLog] = field(default_factory=dict)
    refs: dict[str, PublisherRef] = field(default_factory=dict)
    published: dict[str, asyncio.Event] = field(default_factory=dict)
    published_at: dict[str, float] = field(default_factory=dict)
    participants: list[Participant] = field(default_factory=list)
    joins: list[JoinRecord] = field(default_factory=list)
    tracks: list[PacketVideoTrack | PacketAudioTrack] = field(default_factory=list)
    ticks: list[Tick] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    decode_tasks: list[asyncio.Task[None]] = field(default_factory=list)
    decode_left: int = 0
    ramp_stop: str = ""  # why the capacity search stopped: loss, fps, ramp_max or time
    ramp_steps: list[dict[str, Any]] = field(default_factory=list)
    ramp_capacity: int = 0
    expected_video: int = 0  # video streams the plan subscribes to
    started: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.clip = clips.video_clip(
            self.cfg.width, self.cfg.height, self.cfg.fps, self.cfg.bitrate_bps, self.cfg.clip_frames
        )
        self.audio_clip = clips.audio_clip() if self.cfg.audio else None
        # a re-encoding server drops the trailer: decode at least one stream to measure latency
        self.decode_left = max(self.cfg.decode_sample, 0 if self.target.forwards_payload else 1)
        self.deadline = self.started + self.cfg.max_run_s

    # ------------------------------------------------------------------ joining

    def _on_receiver(
        self, subscriber: str, joined_at: float, receiver: RTCRtpReceiver, publisher: str, kind: str
    ) -> None:
        log = self.logs.get(publisher)
        probe = StreamProbe(
            subscriber, publisher, kind,
            publisher_no=log.publisher_no if log is not None and self.target.forwards_payload else None,
            ready_at=max(joined_at, self.published_at.get(publisher, joined_at)),
        )
        decode = kind == "video" and self.decode_left > 0
        if decode:
            self.decode_left -= 1
            self.decode_tasks.append(asyncio.create_task(read_decoded(receiver, probe, log, self.deadline)))
        install_probe(receiver, probe, decode)
        self.probes.append(probe)

    async def _peer(self, peer: PeerPlan) -> None:
        record = JoinRecord(peer.identity, time.monotonic())
        self.joins.append(record)
        ctx = PeerContext(
            peer.identity, self.target.networks,
            functools.partial(self._on_receiver, peer.identity, record.started_at),
            self.cfg.join_timeout_s,
        )
        try:
            participant = self.target.participant(peer.room, ctx)
            self.participants.append(participant)
            await asyncio.wait_for(self._join_publish_subscribe(peer, participant, record), self.cfg.join_timeout_s)
        except Exception as exc:
            record.error = f"{peer.identity}: {type(exc).__name__}: {exc}"
            self.errors.append(record.error)
            self.progress(f"  ! {record.error}")

    async def _join_publish_subscribe(self, peer: PeerPlan, participant: Participant, record: JoinRecord) -> None:
        await participant.join()
        record.ready_at = time.monotonic()
        if peer.publishes:
            log = SendLog(len(self.logs) + 1, len(self.clip.frames))
            self.logs[peer.identity] = log
            video = PacketVideoTrack(self.clip, log)
            audio = PacketAudioTrack(self.audio_clip, log) if self.audio_clip is not None else None
            self.tracks += [video] + ([audio] if audio is not None else [])
            self.refs[peer.identity] = await participant.publish(video, audio)
            self.published_at[peer.identity] = time.monotonic()
            self.published.setdefault(peer.identity, asyncio.Event()).set()
        if peer.receives_from:
            await asyncio.gather(
                *(self.published.setdefault(p, asyncio.Event()).wait() for p in peer.receives_from)
            )
            await participant.subscribe([self.refs[p] for p in peer.receives_from])
            record.subscribed_at = time.monotonic()

    async def join(self, peers: Sequence[PeerPlan]) -> None:
        self.expected_video += sum(len(p.receives_from) for p in peers)
        for room, count in publishers_per_room(list(peers)).items():
            await self.target.prepare_room(room, count)
        async with asyncio.TaskGroup() as group:
            for i, peer in enumerate(peers):
                if i:
                    await asyncio.sleep(1.0 / self.cfg.join_rate)
                group.create_task(self._peer(peer))
        ok = sum(1 for j in self.joins if j.error is None)
        self.progress(f"  joined {ok}/{len(self.joins)} participants in {time.monotonic() - self.started:.1f} s")

    # ------------------------------------------------------------------ measuring

    def snapshot(self) -> Snapshot:
        now = time.monotonic()
        return {i: p.counters(now) for i, p in enumerate(self.probes)}

    def _server(self) -> ProcSample | None:
        pid = self.target.server_pid()
        return sample(pid, time.monotonic()) if pid is not None else None

    async def measure(self, seconds: float, label: str) -> Window:
        began = time.monotonic()
        start = self.snapshot()
        server0 = self._server()
        last_at = began
        forwarded0 = await self.target.packets_forwarded()
        tester0 = sum(os.times()[:2])
        core = self.target.cpu
        core0 = core_busy_s(core) if core is not None else None
        rss_max: float | None = None
        previous, prev_server = start, server0
        end_at = min(time.monotonic() + seconds, self.deadline)
        while time.monotonic() < end_at:
            await asyncio.sleep(min(1.0, max(0.0, end_at - time.monotonic())))
            last_at = time.monotonic()
            current, server = self.snapshot(), self._server()
            tick = self._tick(previous, current, prev_server, server)
            if tick.server_rss_mb is not None:
                rss_max = max(rss_max or 0.0, tick.server_rss_mb)
            self.ticks.append(tick)
            self.progress(_progress_line(label, tick, len([p for p in self.probes if p.kind == "video"])))
            previous, prev_server = current, server
        end = previous
        core1 = core_busy_s(core) if core is not None else None
        forwarded1 = await self.target.packets_forwarded()
        cpu = None if server0 is None or prev_server is None else prev_server.cpu_s - server0.cpu_s
        forwarded = None if forwarded0 is None or forwarded1 is None else forwarded1 - forwarded0
        return Window(
            max(last_at - began, 1e-3), window_figures(self.probes, start, end), start, end, cpu,
            rss_max, forwarded, sum(os.times()[:2]) - tester0,
            None if core0 is None or core1 is None else core1 - core0,
        )

    def _tick(self, a: Snapshot, b: Snapshot, sa: ProcSample | None, sb: ProcSample | None) -> Tick:
        fig = window_figures(self.probes, a, b)
        cpu = None
        if sa is not None and sb is not None and sb.at > sa.at:
            cpu = (sb.cpu_s - sa.cpu_s) / (sb.at - sa.at)
        return Tick(
            round(time.monotonic() - self.started, 2), fig.streams,
            rounded(percentile(fig.fps, 50), 1), rounded(percentile(fig.latencies_ms, 50)),
            rounded(fig.loss_pct, 3), rounded(cpu, 3),
            None if sb is None else round(sb.rss_bytes / 1e6, 1),
        )

    # ------------------------------------------------------------------ the whole run

    async def execute(self) -> Window:
        """Join, measure, close; the figures of the measured window (``loadtest.report`` shapes them)."""
        label = f"{self.target.name} {self.cfg.scenario}"
        try:
            if self.cfg.ramp:
                self.ramp_steps, self.ramp_capacity, window = await self._ramp(label)
            else:
                await self.join(plan(self.cfg))
                await asyncio.sleep(self.cfg.warmup_s)
                window = await self.measure(self.cfg.duration_s, label)
        finally:
            await self.close()
        return window

    async def _ramp(self, label: str) -> tuple[list[dict[str, Any]], int, Window]:
        cfg = self.cfg
        steps: list[dict[str, Any]] = []
        count, window, capacity = 0, None, 0
        self.ramp_stop = "ramp_max"
        while count < cfg.ramp_max:
            if time.monotonic() + cfg.ramp_step_s + cfg.join_timeout_s > self.deadline:
                self.ramp_stop = "time"
                break
            step = min(cfg.ramp_step, cfg.ramp_max - count)
            await self.join(plan(cfg, first_subscriber=count, subscribers=step))
            count += step
            await asyncio.sleep(1.0)
            window = await self.measure(cfg.ramp_step_s, f"{label} ramp {count}")
            fps50 = percentile(window.figures.fps, 50) or 0.0
            loss = window.figures.loss_pct or 0.0
            failed = sum(1 for j in self.joins if j.error is not None)
            ok = loss <= cfg.ramp_max_loss_pct and fps50 >= cfg.ramp_min_fps_ratio * cfg.fps and not failed
            seconds = window.seconds
            steps.append({cfg.ramp_unit: count, "streams": window.figures.streams, "fps_p50": rounded(fps50, 1),
                          "loss_pct": rounded(loss, 3),
                          "server_cpu_s_per_s": rounded((window.server_cpu_s or 0) / seconds, 3),
                          "tester_cpu_s_per_s": rounded(window.tester_cpu_s / seconds, 3), "passed": ok})
            if not ok:
                self.ramp_stop = "join" if failed else "loss" if loss > cfg.ramp_max_loss_pct else "fps"
                break
            capacity = count
        if window is None:
            raise RuntimeError("ramp made no step")
        return steps, capacity, window

    async def close(self) -> None:
        for task in self.decode_tasks:
            task.cancel()
        for outcome in await asyncio.gather(*self.decode_tasks, return_exceptions=True):
            if isinstance(outcome, Exception):
                self.errors.append(f"decode: {type(outcome).__name__}: {outcome}")
        for track in self.tracks:
            track.stop()
        closing = [asyncio.wait_for(p.close(), 10) for p in self.participants]
        for outcome in await asyncio.gather(*closing, return_exceptions=True):
            if isinstance(outcome, Exception):
                self.errors.append(f"close: {type(outcome).__name__}: {outcome}")


def _progress_line(label: str, tick: Tick, video_streams: int) -> str:
    def fmt(value: float | None, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    return (
        f"[{label}] t={tick.t:6.1f}s streams {tick.streams}/{video_streams}"
        f" fps p50 {fmt(tick.fps_p50, '.1f')} loss {fmt(tick.loss_pct, '.2f')}%"
        f" latency p50 {fmt(tick.latency_ms_p50, '.1f')} ms"
        f" server cpu {fmt(tick.server_cpu_s_per_s, '.3f')} s/s rss {fmt(tick.server_rss_mb, '.0f')} MB"
    )
