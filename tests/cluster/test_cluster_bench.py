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


def test_the_clusters_redis_operations_at_rest_are_one_per_second_per_worker(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "cluster_bench.py"), "--only", "redis", "--rest", "4", "--running", "4", "--json", str(out)],
        check=True, timeout=300, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
    )
    redis = json.loads(out.read_text())["redis"]
    rest = redis["at_rest"]
    # the cluster's share (leases, placements); the whole figure also counts other features'
    # polling (the webhook outbox: docs/performance.md)
    assert rest["cluster_key_ops"] / rest["seconds"] / redis["workers"] <= 1.05
    assert redis["first_join"]["cluster_key_ops"] >= 3  # the placement was read and written
    running = redis["running_call"]  # a running room costs the cluster nothing beyond its leases
    assert running["cluster_key_ops"] / running["seconds"] <= rest["cluster_key_ops"] / rest["seconds"] + 0.6
