"""Profile the server's event loop under load: cProfile over a window, top functions printed.

Runs consult-sfu in this process (uvloop, the configuration from the environment, as
``consult-sfu serve``), waits ``--after`` seconds, profiles ``--seconds``, prints the
functions with the most cumulative time and writes the raw profile. Drive it with the load
tester in another shell, e.g. (docs/performance.md):

    CONSULT_SFU_SECRET=<32+ bytes> taskset -c 0 .venv/bin/python benchmarks/profile_server.py \\
        --port 18080 --after 18 --seconds 12 [--stages]
    taskset -c 1 .venv/bin/python -m loadtest run --target ours --url http://127.0.0.1:18080 \\
        --secret <same> --scenario consults --consults 4 --duration 20

cProfile adds a cost per Python call, so shares of small functions come out too large;
read it for where the time goes, not for absolute figures. Bounded: --after + --seconds.

``--stages`` times the packet path's stages instead (no cProfile): each stage function is
wrapped, and the wall-clock nanoseconds per call and per second are printed next to the
process's CPU time over the same window. The wrappers add ~0.1-0.2 µs per timed call, and
nested stages include their children (the datagram callback includes everything). The
figures are what a packet costs in the running server, where it meets cold caches, which
is 2-4x what the same function costs in a tight loop (benchmarks/packet_path.py).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import uvloop
from aiohttp import web

from control import config as config_module
from control.app import create_app
from sfu.aiortc_hooks import ice, receive, send
from sfu.aiortc_hooks.srtp import SrtpContext
from sfu.packet.receive_bandwidth import ReceiveBandwidthEstimator
from sfu.producer import Producer

# (label, owner, attribute): looked up at call time by the packet path, so replacing the
# attribute before the server starts times every call.
STAGES: list[tuple[str, Any, str]] = [
    ("datagram callback (all of the below)", ice, "_datagram_received"),
    ("SRTP unprotect", SrtpContext, "unprotect"),
    ("parse_rtp", receive, "parse_rtp"),
    ("receive statistics", receive.ReceiveStatistics, "add_at"),
    ("REMB estimator", ReceiveBandwidthEstimator, "add"),
    ("producer + consumers, incl. send", Producer, "on_rtp"),
    ("send: SRTP protect + sendto", send, "send_now"),
    ("SRTP protect", SrtpContext, "protect"),
]


class StageTimers:
    def __init__(self) -> None:
        self.totals = {label: [0, 0] for label, _, _ in STAGES}
        self.counting = False

    def install(self) -> None:
        for label, owner, name in STAGES:
            setattr(owner, name, self._timed(label, getattr(owner, name)))

    def _timed(self, label: str, function: Callable[..., Any]) -> Callable[..., Any]:
        total = self.totals[label]
        clock = time.perf_counter_ns

        def timed(*args: Any, **kwargs: Any) -> Any:
            if not self.counting:
                return function(*args, **kwargs)
            began = clock()
            try:
                return function(*args, **kwargs)
            finally:
                total[0] += clock() - began
                total[1] += 1

        return timed

    def report(self, wall_s: float, cpu_s: float) -> None:
        print(f"process CPU: {cpu_s / wall_s:.4f} s per s over {wall_s:.1f} s")
        print(f"{'stage':40} {'calls/s':>9} {'µs/call':>8} {'share of CPU':>13}")
        for label, (ns, calls) in self.totals.items():
            per_call = ns / calls / 1000 if calls else 0.0
            print(f"{label:40} {calls / wall_s:9.0f} {per_call:8.2f} {ns / 1e9 / cpu_s:13.1%}")


async def _profile(args: argparse.Namespace) -> None:
    profile = cProfile.Profile()
    profile.enable()
    await asyncio.sleep(args.seconds)
    profile.disable()
    profile.dump_stats(args.out)
    pstats.Stats(profile).sort_stats("cumulative").print_stats(args.top)


async def _time_stages(args: argparse.Namespace) -> None:
    timers: StageTimers = args.timers
    timers.counting = True
    wall, cpu = time.monotonic(), time.process_time()
    await asyncio.sleep(args.seconds)
    timers.counting = False
    timers.report(time.monotonic() - wall, time.process_time() - cpu)


async def main(args: argparse.Namespace) -> None:
    measure = _time_stages if args.stages else _profile
    config = config_module.load(None, server__host="127.0.0.1", server__port=args.port)
    runner = web.AppRunner(create_app(config), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", args.port).start()
        print(f"serving on http://127.0.0.1:{args.port}; measuring in {args.after:g} s", flush=True)
        await asyncio.sleep(args.after)
        await measure(args)
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--port", type=int, default=18080)
    parser.add_argument("--after", type=float, default=18.0, help="seconds before profiling starts")
    parser.add_argument("--seconds", type=float, default=12.0, help="seconds profiled")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--out", default="/tmp/consult-sfu-server.prof")
    parser.add_argument("--stages", action="store_true", help="time the packet path's stages instead of cProfile")
    arguments = parser.parse_args()
    if arguments.stages:
        arguments.timers = StageTimers()
        arguments.timers.install()  # before the server starts: the packet path looks them up then
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as loop_runner:
        loop_runner.run(main(arguments))
