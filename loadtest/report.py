"""Output of a run: the result object (one per target and scenario), table, JSON, plots.

Every key of :func:`run_result` is documented in docs/loadtest.md.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from loadtest.metrics import percentile, rounded
from loadtest.runner import ScenarioRun, Window


def _ms(values: Sequence[float], q: float) -> float | None:
    return rounded(percentile([v * 1000.0 for v in values], q), 1)


def _others(window: Window) -> float | None:
    """CPU used on the server's pinned core by everything but the server (contention)."""
    if window.server_core_busy_s is None or window.server_cpu_s is None:
        return None
    return round(max(0.0, window.server_core_busy_s - window.server_cpu_s) / window.seconds, 3)


def run_result(run: ScenarioRun, window: Window) -> dict[str, Any]:
    cfg, fig = run.cfg, window.figures
    video = [p for p in run.probes if p.kind == "video"]
    kinds = 2 if cfg.audio else 1
    ready = [j.ready_at - j.started_at for j in run.joins if j.ready_at is not None]
    first = [p.first_frame_at - p.ready_at for p in video if p.first_frame_at is not None and p.ready_at is not None]
    cpu_s_per_s = None if window.server_cpu_s is None else window.server_cpu_s / window.seconds
    forwarded, source = window.packets_forwarded, "server_metrics"
    if forwarded is None:
        forwarded, source = fig.packets, "subscribers"
    per_packet = None
    if window.server_cpu_s is not None and forwarded:
        per_packet = window.server_cpu_s * 1e6 / forwarded
    sent_frames = sum(log.frames_sent for log in run.logs.values())
    missing = sum(p.frames_missing for p in video)
    ramp: dict[str, Any] = {}
    if cfg.ramp:
        ramp = {"ramp_steps": run.ramp_steps, "ramp_capacity": run.ramp_capacity, "ramp_stopped_by": run.ramp_stop,
                "ramp_unit": cfg.ramp_unit}
    return {
        "target": run.target.name,
        "scenario": cfg.scenario,
        "server_workers": getattr(run.target, "workers", None),
        "params": {k: v for k, v in asdict(cfg).items()},
        "window_s": round(window.seconds, 2),
        "streams": fig.streams,
        "streams_expected": run.expected_video,
        "tracks_expected": run.expected_video * kinds,
        "tracks_received": sum(1 for p in run.probes if p.packets > 0),
        "participants": len(run.joins),
        "participants_failed": sum(1 for j in run.joins if j.error is not None),
        "fps_sent": cfg.fps,
        "fps_p50": rounded(percentile(fig.fps, 50), 1),
        "fps_min": rounded(min(fig.fps), 1) if fig.fps else None,
        "video_kbps_sent": round(run.clip.bitrate_bps / 1000, 1),
        "video_kbps_p50": rounded(percentile(fig.video_kbps, 50), 1),
        "received_mbps": round(sum(fig.video_kbps) / 1000, 2),
        "loss_pct": rounded(fig.loss_pct, 3),
        "frames_missing_pct": rounded(100.0 * missing / max(1, missing + sum(p.frames for p in video)), 3),
        "latency_method": fig.latency_method,
        "latency_samples": len(fig.latencies_ms),
        "e2e_latency_ms_p50": rounded(percentile(fig.latencies_ms, 50)),
        "e2e_latency_ms_p95": rounded(percentile(fig.latencies_ms, 95)),
        "join_to_ready_ms_p50": _ms(ready, 50),
        "join_to_ready_ms_p95": _ms(ready, 95),
        "join_to_first_frame_ms_p50": _ms(first, 50),
        "join_to_first_frame_ms_p95": _ms(first, 95),
        "frames_sent": sent_frames,
        "frames_received": sum(p.frames for p in video),
        "keyframe_requests": sum(log.keyframe_requests for log in run.logs.values()),
        "publisher_late_ticks": sum(log.late_ticks for log in run.logs.values()),
        "misrouted_frames": sum(p.misrouted_frames for p in video),
        "pictures_checked": sum(p.pictures_checked for p in video),
        "pictures_bad": sum(p.pictures_bad for p in video),
        "server_cpu_s_per_s": rounded(cpu_s_per_s, 4),
        "server_us_per_packet": rounded(per_packet, 2),
        "packets_forwarded": forwarded,
        "packets_source": source,
        "packets_received": fig.packets,
        "server_rss_mb": rounded(window.server_rss_mb, 1),
        "tester_cpu_s_per_s": round(window.tester_cpu_s / window.seconds, 3),
        "server_core_others_s_per_s": _others(window),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "errors": run.errors[:50],
        "timeseries": [asdict(t) for t in run.ticks],
        **ramp,
    }


TABLE_KEYS = (
    "streams", "tracks_received", "fps_p50", "video_kbps_p50", "loss_pct", "latency_method", "e2e_latency_ms_p50",
    "e2e_latency_ms_p95", "join_to_ready_ms_p95", "join_to_first_frame_ms_p95", "keyframe_requests",
    "server_cpu_s_per_s", "server_us_per_packet", "packets_forwarded", "server_rss_mb", "tester_cpu_s_per_s",
    "server_core_others_s_per_s",
)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


def table(runs: Sequence[dict[str, Any]]) -> str:
    """Side-by-side table; with several targets, ratio columns against the first one."""
    if not runs:
        return "(no runs)"
    names = [f"{r['target']}/{r['scenario']}" for r in runs]
    base = runs[0]
    ratio_heads = [f"{r['target']}÷{base['target']}" for r in runs[1:]]
    heads = ["metric", *names, *ratio_heads]
    rows = [heads]
    for key in TABLE_KEYS:
        row = [key] + [_cell(r.get(key)) for r in runs]
        for r in runs[1:]:
            a, b = r.get(key), base.get(key)
            ok = isinstance(a, int | float) and isinstance(b, int | float) and b
            row.append(f"{a / b:.2f}x" if ok else "-")  # type: ignore[operator]
        rows.append(row)
    failed = [f"{r['target']}: {r['error']}" for r in runs if r.get("error")]
    widths = [max(len(row[i]) for row in rows) for i in range(len(heads))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
             for row in rows]
    return "\n".join(lines + [f"FAILED {line}" for line in failed])


def write_json(path: Path, runs: Sequence[dict[str, Any]], command: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "command": command,
            "runs": list(runs)}
    path.write_text(json.dumps(body, indent=2))


def write_plots(path: Path, runs: Sequence[dict[str, Any]]) -> Path | None:
    """fps, latency and server CPU over time, one line per run (PNG, matplotlib Agg)."""
    if not runs:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 1, figsize=(9, 9), sharex=True)
    for run in runs:
        series = run.get("timeseries", [])
        t0 = series[0]["t"] if series else 0.0
        t = [p["t"] - t0 for p in series]
        label = f"{run['target']} ({run['scenario']}, {run['streams']} streams)"
        for ax, key in zip(axes, ("fps_p50", "latency_ms_p50", "server_cpu_s_per_s"), strict=True):
            ax.plot(t, [p[key] if p[key] is not None else float("nan") for p in series], label=label)
    for ax, title in zip(axes, ("received fps (p50 over streams)", "end-to-end latency p50 (ms)",
                                "server CPU (CPU-seconds per second)"), strict=True):
        ax.set_ylabel(title, fontsize=8)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    axes[-1].set_xlabel("seconds into the measured window")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
