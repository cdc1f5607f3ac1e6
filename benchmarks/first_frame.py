"""A late joiner's first frame (issue 13): 60 joins by default.

One publisher (aiortc, a moving test pattern, VP8 at 30 fps); then subscribers join one
after another, each after a random pause of up to --max-pause seconds, wait for their first
decoded video frame, and leave. Prints the time from the subscriber's subscribe connection
being connected to that frame (p50/p90/p95/max; and from its join message), and the keyframe
requests (PLI/FIR) the publisher received: their number and the most in any one second.
Targets: p95 <= 300 ms, max <= 600 ms, at most 2 requests in any second.

    PYTHONPATH=. .venv/bin/python benchmarks/first_frame.py [--joins 60] [--max-pause 1.0] [--seed 13]

Bounded: --joins x (pause + join + first frame, 10 s at most each); loopback, one process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.late_joins import late_joins
from tests.support.server import running_server


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with running_server(tmp) as server:
            result = await late_joins(
                server,
                joins=args.joins,
                seed=args.seed,
                max_pause=args.max_pause,
                width=args.width,
                height=args.height,
            )
            counters = server.media.counters
            started = getattr(counters, "legs_started_from_cached_keyframe", None)  # absent before issue 13
    print(json.dumps({**result.summary(), "legs_started_from_cached_keyframe": started}), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--joins", type=int, default=60)
    parser.add_argument("--max-pause", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    ns = parser.parse_args()
    if not (1 <= ns.joins <= 500 and 0 <= ns.max_pause <= 10):
        parser.error("--joins must be in [1, 500] and --max-pause in [0, 10]")
    asyncio.run(main(ns))
