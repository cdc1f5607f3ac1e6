"""A subscriber run inside a test's network namespace (``ip netns exec``) for the policer case
of tests/sfu/test_adaptation.py: joins a room as a BrowserLikePeer (loss repair like a
browser's) and prints one JSON line every 0.5 s until its stdin closes.

``python -m tests.sfu.ns_subscriber WS_URL TOKEN``. Each line: ``participant_id``, and per
received kind the frames so far and the last picture size."""

from __future__ import annotations

import asyncio
import json
import sys

from tests.sfu.test_adaptation import BrowserLikePeer


async def main(ws_url: str, token: str) -> None:
    peer = BrowserLikePeer(ws_url, token, "far")
    loop = asyncio.get_running_loop()
    stdin_closed = loop.run_in_executor(None, sys.stdin.read)
    try:
        joined = await peer.connect()
        peer._spawn(peer.watch_decoding())
        while not stdin_closed.done():
            state = {
                "participant_id": joined.get("participant_id"),
                **{
                    rec.kind: {"frames": rec.frames, "size": rec.sizes[-1] if rec.sizes else None}
                    for rec in peer.received.values()
                },
            }
            print(json.dumps(state), flush=True)
            await asyncio.sleep(0.5)
    finally:
        await peer.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
