"""Short real runs of the load tester: every scenario against ours, each baseline once.

They start real servers (consult-sfu, the MediaRelay baseline, Janus in a network
namespace) through ``python -m loadtest``'s own entry point and check the JSON it writes.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from loadtest.cli import main

pytestmark = pytest.mark.slow  # load runs against real servers and Janus: benchmark-sized (make soak)

SHORT = ["--duration", "3", "--warmup", "1", "--join-rate", "10", "--quiet"]


def run(tmp_path: Path, *args: str) -> dict[str, Any]:
    rc = main(["run", *args, *SHORT, "--out", str(tmp_path)])
    body = json.loads((tmp_path / "results.json").read_text())
    (result,) = body["runs"]
    assert rc == 0, result.get("error") or result.get("errors")
    return result


def check_media(result: dict[str, Any], streams: int, *, min_fps: float = 15, max_latency_ms: float = 1000) -> None:
    assert result["participants_failed"] == 0, result["errors"]
    assert result["streams"] == streams == result["streams_expected"]
    assert result["tracks_received"] == result["tracks_expected"]
    assert result["frames_received"] > 0
    assert result["fps_p50"] is not None and result["fps_p50"] > min_fps
    assert result["loss_pct"] is not None and result["loss_pct"] < 5
    assert result["latency_samples"] > 0
    assert 0 < result["e2e_latency_ms_p50"] <= result["e2e_latency_ms_p95"] < max_latency_ms
    assert result["join_to_first_frame_ms_p95"] is not None
    assert result["server_cpu_s_per_s"] is not None and result["server_rss_mb"] > 0
    assert result["packets_forwarded"] > 0


def test_broadcast_against_ours(tmp_path: Path) -> None:
    result = run(tmp_path, "--target", "ours", "--scenario", "broadcast", "--subscribers", "3")
    check_media(result, 3)
    assert result["latency_method"] == "trailer"
    assert result["packets_source"] == "server_metrics"
    assert result["tracks_received"] == result["tracks_expected"] == 6
    assert (tmp_path / "broadcast.png").stat().st_size > 1000


def test_consults_against_ours(tmp_path: Path) -> None:
    result = run(tmp_path, "--target", "ours", "--scenario", "consults", "--consults", "2")
    check_media(result, 4)
    assert result["misrouted_frames"] == 0


def test_group_against_ours_with_decoded_sample(tmp_path: Path) -> None:
    result = run(tmp_path, "--target", "ours", "--scenario", "group", "--room-size", "3", "--decode-sample", "1")
    check_media(result, 6)
    assert result["tracks_expected"] == 12
    assert result["pictures_checked"] > 0 and result["pictures_bad"] == 0


def test_mediarelay_baseline_receives_frames(tmp_path: Path) -> None:
    # group: two publishers per subscribe connection, so two audio m-lines on one transport
    # (small pictures: MediaRelay decodes and re-encodes every stream on one core)
    result = run(tmp_path, "--target", "mediarelay", "--scenario", "group", "--room-size", "3",
                 "--resolution", "320x240", "--bitrate", "300k")
    check_media(result, 6, min_fps=1, max_latency_ms=2000)  # a busy baseline is slow, it must still deliver
    assert result["latency_method"] == "decoded-marker"
    assert result["packets_source"] == "subscribers"


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("janus") is None, reason="needs root and janus")
def test_janus_baseline_receives_frames(tmp_path: Path) -> None:
    # consults: both sides publish, and each subscribes as soon as the other's feed is up
    result = run(tmp_path, "--target", "janus", "--scenario", "consults", "--consults", "1", "--join-timeout", "60")
    check_media(result, 2)
    assert result["latency_method"] == "trailer"
    mine = f"loadtest-{os.getpid() % 10_000_000}"
    assert not any(line.split()[0] == mine for line in os.popen("ip netns list").read().splitlines() if line)


def test_ramp_against_ours(tmp_path: Path) -> None:
    rc = main(["run", "--target", "ours", "--scenario", "broadcast", "--ramp", "--ramp-step", "2",
               "--ramp-max", "4", "--ramp-step-duration", "2", "--quiet", "--out", str(tmp_path)])
    (result,) = json.loads((tmp_path / "results.json").read_text())["runs"]
    assert rc == 0, result.get("errors")
    assert [s["subscribers"] for s in result["ramp_steps"]] == [2, 4]
    assert result["ramp_capacity"] == 4 and result["ramp_stopped_by"] == "ramp_max"


def test_consults_ramp_with_one_and_two_server_workers_in_one_run(tmp_path: Path) -> None:
    rc = main(["run", "--target", "ours", "--scenario", "consults", "--ramp", "--ramp-step", "1", "--ramp-max", "2",
               "--ramp-step-duration", "2", "--server-workers", "1,2", "--quiet", "--out", str(tmp_path)])
    runs = json.loads((tmp_path / "results.json").read_text())["runs"]
    assert rc == 0, [r.get("error") or r.get("errors") for r in runs]
    assert [(r["target"], r["server_workers"], r["ramp_unit"]) for r in runs] == [
        ("ours-w1", 1, "consults"), ("ours-w2", 2, "consults"),
    ]
    for result in runs:
        steps = [(s["consults"], s["streams"]) for s in result["ramp_steps"]]
        # a loaded machine may stop the search after the first step (fps below 90 %)
        assert steps in ([(1, 2)], [(1, 2), (2, 4)]), result["ramp_steps"]
        assert result["ramp_stopped_by"] in ("ramp_max", "fps", "loss")
        assert result["ramp_capacity"] == max([c for (c, _), s in zip(steps, result["ramp_steps"], strict=True) if s["passed"]], default=0)
        assert result["packets_forwarded"] > 0  # with two workers: summed over both (worker-labelled /metrics)


def test_several_server_workers_refuse_pinning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["run", "--target", "ours", "--pin", "--server-workers", "2", "--quiet", "--out", str(tmp_path)])
    assert "--server-workers above 1 needs every core" in capsys.readouterr().err


def test_interrupt_stops_every_server(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    from loadtest.server_stats import process_tree

    proc = subprocess.Popen(
        [sys.executable, "-m", "loadtest", "run", "--target", "mediarelay", "--subscribers", "1",
         "--duration", "60", "--out", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # bounded: the run measures for 60 s, the test times out before
            if line.startswith("[mediarelay broadcast]"):
                break
        started = process_tree(proc.pid)
        assert len(started) >= 2  # the tester and the MediaRelay server it started
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 130
        time.sleep(0.2)
        assert not [pid for pid in started if Path(f"/proc/{pid}").exists()]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
