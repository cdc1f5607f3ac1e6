"""A subscriber run inside a test's network namespace (``ip netns exec``): joins a room as a
BrowserLikePeer (loss repair like a browser's) and prints one JSON line of state until its stdin
closes.

``python -m tests.sfu.ns_subscriber WS_URL TOKEN`` (the policer case,
tests/sfu/test_adaptation_policer.py): a line every 0.5 s.

``python -m tests.sfu.ns_subscriber WS_URL TOKEN --relay PEER_ADDRESS SERVER_ADDRESS`` (the
queue cases, tests/sfu/test_adaptation_ns.py): the subscribe connection goes through a
:class:`~tests.support.rate_relay.RateRelay` in this same process, both its sides on
PEER_ADDRESS (the namespace's veth address), its downlink a drop-tail queue (300 ms of buffer),
unlimited until told; SERVER_ADDRESS is where the server's candidates are (the veth's host
side). A line every 0.1 s. Why the relay is here, in the peer's process: its timing and the
peer's are then the peer's own, as when both ran in the test's process on 127.0.0.1, and the
test process (server, publisher, another subscriber) adds no stalls to the link.

Each line: ``participant_id``; per received kind ``{"frames", "size", "sizes"}`` (the last
picture size, and every size in the order seen); ``quality`` (the ``quality`` messages
received); ``holes_skipped``; ``video_producers`` (the video producer ids the peer knows);
``t`` (``time.monotonic()`` when the line was made: CLOCK_MONOTONIC, the test's clock too);
in relay mode ``relay`` (its downlink's ``passed``, ``dropped``, ``bytes_offered`` and
``rate``, and ``bytes_to_peer``).

stdin: one JSON command a line: ``{"rate": bits_per_s | null}`` sets the relay's downlink;
``"id"`` in a command is answered at once by a line with ``"ack": id`` (a fresh sample).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

from tests.sfu.test_adaptation import BrowserLikePeer
from tests.support.rate_limit import RateLimit
from tests.support.rate_relay import RateRelay


def _state(peer: BrowserLikePeer, relay: RateRelay | None) -> dict[str, Any]:
    joined = peer.joined or {}
    state: dict[str, Any] = {
        "participant_id": joined.get("participant_id"),
        **{
            rec.kind: {"frames": rec.frames, "size": rec.sizes[-1] if rec.sizes else None, "sizes": rec.sizes}
            for rec in peer.received.values()
        },
        "quality": [m for m in peer.messages if m["type"] == "quality"],
        "holes_skipped": peer.holes_skipped,
        "video_producers": [p for p, info in peer.producers.items() if info["kind"] == "video"],
        "t": time.monotonic(),
    }
    if relay is not None:
        link = relay.downlink
        state["relay"] = {
            "passed": link.passed,
            "dropped": link.dropped,
            "bytes_offered": link.bytes_offered,
            "rate": link.rate_bps,
            "bytes_to_peer": relay.bytes_to_peer,
        }
    return state


async def main(ws_url: str, token: str, relay_addresses: tuple[str, str] | None) -> None:
    peer = BrowserLikePeer(ws_url, token, "far")
    relay: RateRelay | None = None
    if relay_addresses is not None:
        relay = RateRelay(RateLimit(None, "queue"), address=relay_addresses[0], server_address=relay_addresses[1])
        await relay.start()
        # aiortc does not trickle: rewriting the offer and the answer is enough.
        peer.rewrite_subscribe_offer = relay.for_peer
        peer.rewrite_subscribe_answer = relay.for_server
    interval = 0.1 if relay is not None else 0.5
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)

    def emit(**extra: Any) -> None:
        print(json.dumps({**_state(peer, relay), **extra}), flush=True)

    async def follow_commands() -> None:
        """Until stdin closes (the test is done)."""
        while line := await stdin.readline():
            command = json.loads(line)
            if "rate" in command and relay is not None:
                relay.downlink.set_rate(command["rate"])
            if "id" in command:
                emit(ack=command["id"])

    commands = asyncio.create_task(follow_commands())
    try:
        await peer.connect()
        peer._spawn(peer.watch_decoding())
        while not commands.done():
            emit()
            await asyncio.wait({commands}, timeout=interval)
        commands.result()  # a bad command: its error on stderr, a non-zero exit
    finally:
        commands.cancel()
        await asyncio.gather(commands, return_exceptions=True)
        await peer.close()
        if relay is not None:
            relay.close()


def _arguments(argv: list[str]) -> tuple[str, str, tuple[str, str] | None]:
    parser = argparse.ArgumentParser(prog="python -m tests.sfu.ns_subscriber")
    parser.add_argument("ws_url")
    parser.add_argument("token")
    parser.add_argument("--relay", nargs=2, metavar=("PEER_ADDRESS", "SERVER_ADDRESS"))
    args = parser.parse_args(argv)
    return args.ws_url, args.token, (args.relay[0], args.relay[1]) if args.relay else None


if __name__ == "__main__":
    asyncio.run(main(*_arguments(sys.argv[1:])))
