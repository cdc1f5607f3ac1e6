"""The memory benchmark's checks as a test: join/leave cycles leave no file descriptor, task
or growing memory behind, an idle server is one process with no heavy library, and a
participant of a 1:1 call (after the first call) costs at most 2 MB (issue 17)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks import memory_bench

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow  # the memory benchmark's 300 join/leave cycles: a soak (make soak)
async def test_join_leave_cycles_leave_nothing_behind() -> None:
    result: dict[str, Any] = await memory_bench.run(cycles=300, n_calls=2)
    start, end = result["cycles_start"], result["cycles_end"]
    assert end["fds"] == start["fds"] and end["tasks"] == start["tasks"], result
    assert abs(result["cycles_rss_change_pct"]) < 5, result
    assert result["idle_processes"] == 1, result  # no caption worker before first use
    assert result["idle_rss_mb"] < 80, result  # 61.3 MB measured (docs/performance.md); was ~660 MB with workers
    assert result["first_room_mb"] > 10, result  # the media stack is loaded at the first room, not at start-up
    assert result["per_participant_mb"] <= 2, result  # 0.89 MB measured


def test_the_benchmark_refuses_unbounded_runs() -> None:
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "memory_bench.py"), "--cycles", "100000"], capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 2 and "--cycles must be 1-5000" in out.stderr
