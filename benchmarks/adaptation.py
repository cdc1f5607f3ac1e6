"""Network adaptation benchmark (issue 15): one publisher, subscribers behind four link rates.

The server runs as its own process (``consult-sfu serve --workers 1``, pinned to CPU 0); the
peers are aiortc peers of this process (pinned to CPU 1): a publisher sending a 640x480 / 30 fps
camera (a moving pattern with a band of grain, ~0.5-1 Mbit/s in VP8) and a 32 kbit/s Opus tone,
and one subscriber per link rate, each through its own UDP relay (tests/support/rate_relay.py)
whose server-to-subscriber direction is a drop-tail queue of that rate with 300 ms of buffer
(the kernel of the development machine has no ``tc`` qdisc). After a settling time it measures,
per subscriber over ``--duration`` seconds: decoded video fps and picture size, audio frames per
second, the link's loss (relay drops), what the server feeds the leg (from /metrics and the
quality messages) and the server's CPU (its process, from /proc).

    .venv/bin/python benchmarks/adaptation.py [--rates 0,1000,500,250] [--settle 20] [--duration 15]

A rate of 0 is an unconstrained link. Bounded: settle + duration seconds plus joins; the server
it starts is stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aiortc.codecs.opus import OpusEncoder  # noqa: E402

from benchmarks.pinned_server import pinned_server  # noqa: E402
from control.tokens import mint  # noqa: E402
from sfu.aiortc_hooks import configure_host_addresses  # noqa: E402
from tests.sfu.test_adaptation import BrowserLikePeer, CameraTrack  # noqa: E402
from tests.support.media import ToneAudioTrack  # noqa: E402
from tests.support.peer import TestPeer  # noqa: E402
from tests.support.rate_limit import RateLimit  # noqa: E402
from tests.support.rate_relay import RateRelay  # noqa: E402


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its children (the serve supervisor's worker)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    pids = [pid]
    while pids:
        current = pids.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except (OSError, IndexError, ValueError):
            continue
        pids += [int(c) for c in children]
    return total


def voice_opus() -> None:
    original = OpusEncoder.__init__

    def init(self: OpusEncoder) -> None:
        original(self)
        self.codec.bit_rate = 32000

    OpusEncoder.__init__ = init  # type: ignore[method-assign]


async def run(rates_kbps: list[int], settle: float, duration: float, port: int, secret: str, server_pid: int) -> None:
    configure_host_addresses(["127.0.0.1"])
    voice_opus()
    url = f"ws://127.0.0.1:{port}/ws"
    room = "adapt-bench"
    pub = TestPeer(url, mint(secret, room=room, identity="pub", role="practitioner"), "pub")
    subs: list[tuple[int, BrowserLikePeer, RateRelay]] = []
    try:
        await pub.connect()
        await pub.publish([(CameraTrack(), "camera"), (ToneAudioTrack(), "microphone")])
        assert pub.joined is not None
        pid = pub.joined["participant_id"]
        for i, rate in enumerate(rates_kbps):
            relay = RateRelay(RateLimit(rate * 1000 if rate else None, "queue", buffer_s=0.3))
            await relay.start()
            peer = BrowserLikePeer(url, mint(secret, room=room, identity=f"sub{i}", role="client"), f"sub{i}")
            peer.rewrite_subscribe_offer = relay.rewrite_offer
            peer.rewrite_subscribe_answer = relay.rewrite_answer
            await peer.connect()
            peer._spawn(peer.watch_decoding())
            subs.append((rate, peer, relay))
        await asyncio.sleep(settle)
        before: list[dict[str, Any]] = []
        for _, peer, relay in subs:
            video, audio = peer.receiving_from(pid, "video"), peer.receiving_from(pid, "audio")
            before.append(
                {
                    "v": video.frames if video else 0,
                    "a": audio.frames if audio else 0,
                    "passed": relay.downlink.passed,
                    "dropped": relay.downlink.dropped,
                }
            )
        cpu0, t0 = tree_cpu_seconds(server_pid), time.monotonic()
        await asyncio.sleep(duration)
        cpu = (tree_cpu_seconds(server_pid) - cpu0) / (time.monotonic() - t0)
        print(f"\n1 publisher 640x480/30 fps, {len(subs)} subscribers; settle {settle:.0f} s, measured {duration:.0f} s"
              f" ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average {os.getloadavg()[0]:.1f})\n")
        print("| link | decoded fps | last picture | audio frames/s | link loss | quality (last) | estimate kbit/s |")
        print("|---|---|---|---|---|---|---|")
        for (rate, peer, relay), b in zip(subs, before, strict=True):
            video, audio = peer.receiving_from(pid, "video"), peer.receiving_from(pid, "audio")
            vfps = ((video.frames if video else 0) - b["v"]) / duration
            afps = ((audio.frames if audio else 0) - b["a"]) / duration
            passed = relay.downlink.passed - b["passed"]
            dropped = relay.downlink.dropped - b["dropped"]
            loss = dropped / max(1, passed + dropped)
            quality = [m for m in peer.messages if m["type"] == "quality"]
            last = quality[-1] if quality else {"state": "good", "estimate_kbps": None}
            size = f"{video.sizes[-1][0]}x{video.sizes[-1][1]}" if video and video.sizes else "-"
            link = f"{rate} kbit/s" if rate else "unconstrained"
            print(f"| {link} | {vfps:.1f} | {size} | {afps:.1f} | {loss:.1%} | {last['state']} | {last['estimate_kbps']} |")
        print(f"\nserver CPU (process, incl. its rendition encoders): {cpu:.3f} CPU-s per s")
    finally:
        await pub.close()
        for _, peer, relay in subs:
            await peer.close()
            relay.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="0,1000,500,250", help="kbit/s per subscriber link, 0: unconstrained")
    parser.add_argument("--settle", type=float, default=20.0)
    parser.add_argument("--duration", type=float, default=15.0)
    args = parser.parse_args()
    rates = [int(r) for r in args.rates.split(",")]
    with pinned_server("adapt-bench", log_level=os.environ.get("ADAPT_BENCH_LOG", "WARNING")) as server:
        os.sched_setaffinity(0, {1})
        asyncio.run(run(rates, args.settle, args.duration, server.port, server.secret, server.proc.pid))
    if os.environ.get("ADAPT_BENCH_LOG"):
        print("\n".join(line for line in server.output.splitlines() if "link_adaptation" in line))

if __name__ == "__main__":
    main()
