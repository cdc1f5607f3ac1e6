"""The chaos run of scripts/chaos.py as a soak (issue 13): aiortc peers SIGKILLed and
WebSockets dropped during calls; the server's gauges back to 0, its file descriptors and
resident memory flat, no error in its log."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_killed_peers_and_dropped_websockets_leave_nothing_behind() -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "chaos.py"), "--rounds", "12", "--rooms", "2", "--peers", "3"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.stdout, run.stderr[-3000:]
    result = json.loads(run.stdout)
    assert result["problems"] == [], result
    assert run.returncode == 0, result
    assert result["kills"] + result["drops"] >= 12, result
    assert result["peak_gauges"]["consult_sfu_consumers"] > 0, result
    assert len(result["zero_after_s"]) == 3, result  # after the first round, half way, at the end
