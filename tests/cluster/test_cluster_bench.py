"""benchmarks/cluster_bench.py runs and reports (its Redis part: the shortest); slow, as every benchmark run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow, pytest.mark.redis]


def test_redis_operations_at_rest_are_one_per_second_per_worker(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "cluster_bench.py"), "--only", "redis", "--rest", "4", "--running", "2", "--json", str(out)],
        check=True, timeout=300, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
    )
    redis = json.loads(out.read_text())["redis"]
    assert redis["at_rest"]["ops_per_s_per_worker"] <= 1.0 and redis["target_met"]
    assert redis["first_join"]["cluster_key_ops"] >= 3  # the placement was read and written
    assert redis["running_call"]["ops_per_s_above_rest"] <= 0.5
