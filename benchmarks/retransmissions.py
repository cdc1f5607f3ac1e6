"""Retransmissions per lost packet at 5 % loss with reordering (issue 13).

One publisher (aiortc, a moving noisy test pattern, VP8 at 30 fps) and one subscriber whose
subscribe connection crosses a userspace UDP relay (tests/support/udp_relay.py) that drops
5 % of the RTP/RTCP datagrams towards the subscriber and delays each by 30 +- 10 ms drawn
independently (packets overtake each other, as with netem's ``delay 30ms 10ms``). The relay
reads the RTP headers (SRTP leaves them in the clear) and counts, in the measured window:
first copies, repeats (retransmissions), drops, and repeats of packets it had delivered.
Prints one JSON object per run: retransmissions per lost packet, frames per second at the
subscriber, the server's resent/suppressed counters and the leg's RTT.

    PYTHONPATH=. .venv/bin/python benchmarks/retransmissions.py [--seconds 30] [--runs 3]
        [--width 640 --height 480]

Bounded: --runs x (--seconds + ~5 s of setup); everything on 127.0.0.1, in one process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.lossy_call import LOSSY_REORDERING, lossy_call
from tests.support.server import running_server


async def main(args: argparse.Namespace) -> None:
    for run in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            async with running_server(tmp) as server:
                result = await lossy_call(
                    server,
                    room=f"bench-{run}",
                    seconds=args.seconds,
                    profile=LOSSY_REORDERING,
                    width=args.width,
                    height=args.height,
                    seed=13 + run,
                )
        print(json.dumps({"run": run, **result.summary()}), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    ns = parser.parse_args()
    if not (1 <= ns.runs <= 10 and 1 <= ns.seconds <= 300):
        parser.error("--runs must be in [1, 10] and --seconds in [1, 300]")
    asyncio.run(main(ns))
