"""Forwarding benchmark (issue 2): one publisher, 10 subscribers, 640x480 at 30 fps.

Runs the same broadcast against our server and against aiortc's MediaRelay (decode and
re-encode per subscriber, the usual Python relay), with the load tester's light peers,
server pinned to CPU 0 and peers to CPU 1, and prints:

* server CPU per forwarded stream (CPU-s/s divided by subscribed streams) and per packet,
  for both, and the ratio (target: ours at most 1/20 of MediaRelay's);
* the latency our server adds, measured inside it with the opt-in latency probe (packet
  hand-over after decryption -> last subscriber's copy handed to the kernel), p50/p95/p99
  (target: p95 at most 5 ms), next to the load tester's end-to-end figures.

    .venv/bin/python benchmarks/forwarding.py [--subscribers 10] [--duration 20]

Bounded: two runs of --duration seconds plus joins; every process it starts is stopped.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.pinned_server import pinned_server  # noqa: E402

PY = sys.executable


def scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def loadtest(args: list[str]) -> dict[str, object]:
    out = Path(tempfile.mkdtemp(prefix="fwd-bench-"))
    cmd = [PY, "-m", "loadtest", "run", *args, "--out", str(out), "--quiet"]
    subprocess.run(cmd, cwd=ROOT, check=True, timeout=600)
    runs = json.loads((out / "results.json").read_text())["runs"]
    return dict(runs[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscribers", type=int, default=10)
    parser.add_argument("--duration", type=float, default=20.0)
    args = parser.parse_args()
    common = [
        "--scenario", "broadcast", "--subscribers", str(args.subscribers), "--duration", str(args.duration),
        "--resolution", "640x480", "--fps", "30", "--pin",
    ]

    with pinned_server("fwd-bench", sfu_latency_probe="true", log_level="WARNING") as server:
        ours = loadtest(
            ["--target", "ours", "--url", f"ws://127.0.0.1:{server.port}/ws", "--secret", server.secret,
             "--server-pid", str(server.proc.pid), *common]
        )
        metrics = scrape(server.port)
    relay = loadtest(["--target", "mediarelay", *common])

    def per_stream(run: dict[str, object]) -> float:
        return float(run["server_cpu_s_per_s"]) / max(1, int(run["streams"]))  # type: ignore[arg-type]

    q = {k: metrics.get(f'consult_sfu_forwarding_latency_seconds{{quantile="{k}"}}') for k in ("0.5", "0.95", "0.99")}
    rows = [
        ("streams", ours["streams"], relay["streams"]),
        ("fps_p50", ours["fps_p50"], relay["fps_p50"]),
        ("server_cpu_s_per_s", ours["server_cpu_s_per_s"], relay["server_cpu_s_per_s"]),
        ("server CPU per stream (s/s)", round(per_stream(ours), 5), round(per_stream(relay), 5)),
        ("server_us_per_packet", ours["server_us_per_packet"], relay["server_us_per_packet"]),
        ("e2e_latency_ms_p50", ours["e2e_latency_ms_p50"], relay["e2e_latency_ms_p50"]),
        ("e2e_latency_ms_p95", ours["e2e_latency_ms_p95"], relay["e2e_latency_ms_p95"]),
        ("server_rss_mb", ours["server_rss_mb"], relay["server_rss_mb"]),
    ]
    print(f"\nbroadcast, 1 publisher -> {args.subscribers} subscribers, 640x480 30 fps, {args.duration:.0f} s, "
          f"server on CPU 0, peers on CPU 1 ({time.strftime('%Y-%m-%d')})\n")
    print("| metric | ours | MediaRelay |\n|---|---|---|")
    for name, a, b in rows:
        print(f"| {name} | {a} | {b} |")
    ratio = per_stream(relay) / max(per_stream(ours), 1e-9)
    print(f"\nCPU per forwarded stream: ours = 1/{ratio:.1f} of MediaRelay's (target 1/20)")
    if q["0.95"] is not None:
        print(
            "server-added latency (inside the server, sampled 1/4 packets, bucket upper bounds): "
            f"p50 <= {q['0.5'] * 1000:.2f} ms, p95 <= {q['0.95'] * 1000:.2f} ms, p99 <= {q['0.99'] * 1000:.2f} ms "
            f"(target p95 <= 5 ms; {int(metrics.get('consult_sfu_forwarding_latency_seconds_count', 0))} samples)"
        )


if __name__ == "__main__":
    main()
