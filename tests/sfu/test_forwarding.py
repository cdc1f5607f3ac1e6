"""Packet forwarding end to end with real aiortc peers over loopback."""

from __future__ import annotations

import asyncio

from tests.support.media import PatternVideoTrack, ToneAudioTrack
from tests.support.peer import TestPeer
from tests.support.server import RunningServer


async def test_one_to_one_both_directions_without_transcoding(server: RunningServer) -> None:
    alice = TestPeer(server.ws_url, server.token("r1", "alice", "practitioner"), "alice")
    bob = TestPeer(server.ws_url, server.token("r1", "bob"), "bob")
    try:
        await alice.connect()
        await bob.connect()
        await alice.publish([(PatternVideoTrack(), "camera"), (ToneAudioTrack(), "microphone")])
        await bob.publish([(PatternVideoTrack(), "camera"), (ToneAudioTrack(), "microphone")])
        a_id = alice.joined["participant_id"]
        b_id = bob.joined["participant_id"]
        await bob.wait_frames(a_id, "video", 20)
        await alice.wait_frames(b_id, "video", 20)
        await bob.wait_frames(a_id, "audio", 20)
        await alice.wait_frames(b_id, "audio", 20)
        counters = server.media.counters
        assert counters.rtp_packets_forwarded > 0
        assert counters.frames_decoded == 0
        assert counters.frames_encoded == 0
        frame = bob.receiving_from(a_id, "video").last_frame
        assert (frame.width, frame.height) == (640, 480)
    finally:
        await alice.close()
        await bob.close()
    await asyncio.sleep(0.2)
    assert server.media.gauges()["participants"] == 0
