"""Resolution renditions: decode once, encode once per size, back to passthrough."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.media import PatternVideoTrack
from tests.support.peer import TestPeer
from tests.support.server import RunningServer
from tests.support.waiting import until

pytestmark = pytest.mark.serial


@pytest.mark.long
async def test_capped_subscribers_share_one_encoder_and_uncapping_returns_to_passthrough(
    server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    pub = TestPeer(server.ws_url, server.token("rend", "pub"), "pub")
    subs = [TestPeer(server.ws_url, server.token("rend", f"s{i}"), f"s{i}") for i in range(3)]
    try:
        await pub.connect()
        video = (await pub.publish([(PatternVideoTrack(640, 360, 15, noise=True), "camera")]))[0]
        pid = pub.joined["participant_id"]
        for s in subs:
            await s.connect()
            await s.wait_frames(pid, "video", 5)
        media = server.media
        assert media.counters.frames_decoded == 0 and media.counters.frames_encoded == 0
        # (aiortc's own receivers may fail on their first frames while their transport
        # finishes starting; what matters below is that source switches never break a frame)
        await asyncio.sleep(1.0)
        caplog.clear()

        # s0 and s1 cap at 320x180, s2 keeps the source size
        for s in subs[:2]:
            await s.send({"type": "subscription", "producer_id": video["producer_id"], "max_width": 320, "max_height": 180})
        loop = asyncio.get_running_loop()
        switch_started = loop.time()
        for s in subs[:2]:
            await until(lambda s=s: s.receiving_from(pid, "video").sizes[-1] == (320, 180), what="320x180 frames")
        switch_time = loop.time() - switch_started
        assert switch_time < 1.0, f"switch took {switch_time:.2f} s"
        assert subs[2].receiving_from(pid, "video").sizes[-1] == (640, 360)
        gauges = media.gauges()
        assert gauges["renditions"] == 1, "two subscribers at the same size share one encoder"
        assert gauges["decoders"] == 1
        assert media.counters.frames_decoded > 0 and media.counters.frames_encoded > 0
        # no frozen picture: frames keep arriving through the switch
        before = [s.receiving_from(pid, "video").frames for s in subs]
        await asyncio.sleep(1.0)
        after = [s.receiving_from(pid, "video").frames for s in subs]
        assert all(b < a for b, a in zip(before, after, strict=True))

        # uncap: back to passthrough, the rendition and the decoder stop within 2 s
        for s in subs[:2]:
            await s.send({"type": "subscription", "producer_id": video["producer_id"]})
        for s in subs[:2]:
            await until(lambda s=s: s.receiving_from(pid, "video").sizes[-1] == (640, 360), what="source size back")
        await until(lambda: media.gauges()["renditions"] == 0, timeout=2.5, what="rendition stopped")
        await until(lambda: media.gauges()["decoders"] == 0, timeout=2.5, what="decoder stopped")
        decoded, encoded = media.counters.frames_decoded, media.counters.frames_encoded
        await asyncio.sleep(1.0)
        assert (media.counters.frames_decoded, media.counters.frames_encoded) == (decoded, encoded)
        # every switch happened between whole frames: the subscribers' decoders never choked
        assert not [r for r in caplog.records if "failed to decode" in r.getMessage()]
    finally:
        await pub.close()
        for s in subs:
            await s.close()


async def test_paused_subscription_stops_the_leg_and_resumes(server: RunningServer) -> None:
    pub = TestPeer(server.ws_url, server.token("pause", "pub"), "pub")
    sub = TestPeer(server.ws_url, server.token("pause", "sub"), "sub")
    try:
        await pub.connect()
        video = (await pub.publish([(PatternVideoTrack(320, 240, 15), "camera")]))[0]
        pid = pub.joined["participant_id"]
        await sub.connect()
        await sub.wait_frames(pid, "video", 5)
        await sub.send({"type": "subscription", "producer_id": video["producer_id"], "paused": True})
        await asyncio.sleep(0.5)
        frames = sub.receiving_from(pid, "video").frames
        await asyncio.sleep(1.0)
        assert sub.receiving_from(pid, "video").frames - frames <= 1
        await sub.send({"type": "subscription", "producer_id": video["producer_id"], "paused": False})
        await sub.wait_frames(pid, "video", frames + 5, timeout=5)
    finally:
        await pub.close()
        await sub.close()
