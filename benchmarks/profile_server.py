"""Profile the server's event loop under load: cProfile over a window, top functions printed.

Runs consult-sfu in this process (uvloop, the configuration from the environment, as
``consult-sfu serve``), waits ``--after`` seconds, profiles ``--seconds``, prints the
functions with the most cumulative time and writes the raw profile. Drive it with the load
tester in another shell, e.g. (docs/performance.md):

    CONSULT_SFU_SECRET=<32+ bytes> taskset -c 0 .venv/bin/python benchmarks/profile_server.py \\
        --port 18080 --after 18 --seconds 12
    taskset -c 1 .venv/bin/python -m loadtest run --target ours --url http://127.0.0.1:18080 \\
        --secret <same> --scenario consults --consults 4 --duration 20

cProfile adds a cost per Python call, so shares of small functions come out too large;
read it for where the time goes, not for absolute figures. Bounded: --after + --seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import uvloop
from aiohttp import web

from control import config as config_module
from control.app import create_app


async def main(args: argparse.Namespace) -> None:
    config = config_module.load(None, server__host="127.0.0.1", server__port=args.port)
    runner = web.AppRunner(create_app(config), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", args.port).start()
        print(f"serving on http://127.0.0.1:{args.port}; profiling in {args.after:g} s", flush=True)
        await asyncio.sleep(args.after)
        profile = cProfile.Profile()
        profile.enable()
        await asyncio.sleep(args.seconds)
        profile.disable()
        profile.dump_stats(args.out)
        pstats.Stats(profile).sort_stats("cumulative").print_stats(args.top)
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--port", type=int, default=18080)
    parser.add_argument("--after", type=float, default=18.0, help="seconds before profiling starts")
    parser.add_argument("--seconds", type=float, default=12.0, help="seconds profiled")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--out", default="/tmp/consult-sfu-server.prof")
    arguments = parser.parse_args()
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as loop_runner:
        loop_runner.run(main(arguments))
