"""An aiortc peer run inside a test's network namespace (``ip netns exec``): joins an echo room,
publishes a test pattern, counts its own frames coming back, prints one JSON line.

``python -m tests.reach.ns_peer WS_URL TOKEN``; what it prints: ``frames`` (own video frames
received back), ``server_candidates`` (addresses in the server's SDP candidates), ``nominated``
(the remote end of each nominated ICE pair: type and address)."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from tests.support.media import PatternVideoTrack
from tests.support.peer import TestPeer


def _candidate_addresses(sdp: str) -> list[str]:
    return [line.split()[4] for line in sdp.splitlines() if line.startswith("a=candidate:")]


async def main(ws_url: str, token: str) -> dict[str, Any]:
    peer = TestPeer(ws_url, token, name="ns-peer")
    try:
        joined = await peer.connect()
        if joined.get("type") != "joined":
            return {"error": joined}
        await peer.publish([(PatternVideoTrack(320, 240, fps=15), "camera")])
        received = await peer.wait_frames(joined["participant_id"], "video", 20, timeout=60)
        sdps = [m["sdp"] for m in peer.messages if isinstance(m.get("sdp"), str)]
        nominated = []
        for pc in (peer._publish_pc, peer._subscribe_pc):
            if pc is None:
                continue
            connection = pc.getTransceivers()[0].sender.transport.transport._connection
            for pair in connection._nominated.values():
                nominated.append({"type": pair.remote_candidate.type, "host": pair.remote_candidate.host})
        return {
            "frames": received.frames,
            "server_candidates": sorted({a for sdp in sdps for a in _candidate_addresses(sdp)}),
            "nominated": nominated,
        }
    finally:
        await peer.close()


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1], sys.argv[2]))), flush=True)
