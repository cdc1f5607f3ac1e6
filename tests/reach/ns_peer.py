"""An aiortc peer run inside a test's network namespace (``ip netns exec``): joins an echo room,
publishes a test pattern, counts its own frames coming back, prints one JSON line.

``python -m tests.reach.ns_peer WS_URL TOKEN [--turn]``; ``--turn``: use ``joined.ice_servers``.
What it prints: ``frames`` (own video frames received back), ``server_candidates`` (addresses in
the server's SDP candidates), ``nominated`` (each nominated ICE pair: its local and remote
candidates' type and address)."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from tests.support.media import PatternVideoTrack
from tests.support.peer import TestPeer


def _candidate_addresses(sdp: str) -> list[str]:
    return [line.split()[4] for line in sdp.splitlines() if line.startswith("a=candidate:")]


async def main(ws_url: str, token: str, turn: bool) -> dict[str, Any]:
    peer = TestPeer(ws_url, token, name="ns-peer", use_ice_servers=turn)
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
                nominated.append({
                    "local": {"type": pair.local_candidate.type, "host": pair.local_candidate.host},
                    "remote": {"type": pair.remote_candidate.type, "host": pair.remote_candidate.host},
                })
        return {
            "frames": received.frames,
            "server_candidates": sorted({a for sdp in sdps for a in _candidate_addresses(sdp)}),
            "nominated": nominated,
        }
    finally:
        await peer.close()


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1], sys.argv[2], "--turn" in sys.argv[3:]))), flush=True)
