"""Rooms with several participants: routing, late joiners, leaving, mute."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.support.media import PatternVideoTrack, ToneAudioTrack
from tests.support.peer import TestPeer
from tests.support.server import RunningServer, running_server


@contextlib.asynccontextmanager
async def peers(server: RunningServer, room: str, names: list[str]) -> AsyncIterator[list[TestPeer]]:
    made = [TestPeer(server.ws_url, server.token(room, n), n) for n in names]
    try:
        yield made
    finally:
        for p in made:
            await p.close()


async def publish_av(peer: TestPeer, width: int = 320, height: int = 240) -> None:
    await peer.publish([(PatternVideoTrack(width, height, 15), "camera"), (ToneAudioTrack(), "microphone")])


@pytest.mark.long
async def test_four_participants_each_receive_the_other_three(tmp_path: Any) -> None:
    # Without link adaptation: on a loaded machine, twelve aiortc legs in one process lose
    # enough packets for the estimate to lower renditions (transcoding), which is not what this
    # test is about (tests/sfu/test_adaptation.py is); here every video is forwarded as published.
    async with running_server(tmp_path, sfu__adaptation=False) as server:
        await _four_participants_each_receive_the_other_three(server)


async def _four_participants_each_receive_the_other_three(server: RunningServer) -> None:
    async with peers(server, "r4", ["p1", "p2", "p3", "p4"]) as group:
        for p in group:
            await p.connect()
            await publish_av(p)
        ids = [p.joined["participant_id"] for p in group]
        for p, me in zip(group, ids, strict=True):
            for other in ids:
                if other != me:
                    await p.wait_frames(other, "video", 10, timeout=30)
                    await p.wait_frames(other, "audio", 10, timeout=30)
            assert p.receiving_from(me, "video") is None
        assert server.media.gauges()["consumers"] == 4 * 3 * 2
        assert server.media.counters.frames_encoded == 0


async def test_late_joiner_gets_video_within_one_second(server: RunningServer) -> None:
    async with peers(server, "late", ["host", "late"]) as (host, late):
        await host.connect()
        await publish_av(host)
        await asyncio.sleep(2.5)  # the host's first keyframe is long gone
        loop = asyncio.get_running_loop()
        await late.connect()
        offer = await late.next_message("subscribe_offer")
        assert {c["kind"] for c in offer["consumers"]} == {"audio", "video"}
        start = loop.time()
        rec = await late.wait_frames(host.joined["participant_id"], "video", 1, timeout=5)
        # Measured from the moment the subscribe connection could carry media.
        assert rec.first_frame_at is not None
        assert rec.first_frame_at - start < 1.5
        ice_connected = late._subscribe_pc.connectionState  # type: ignore[union-attr]
        assert ice_connected == "connected"


async def test_leaving_removes_tracks_at_the_others_and_mute_is_shown(server: RunningServer) -> None:
    async with peers(server, "leave", ["a", "b", "c"]) as (a, b, c):
        for p in (a, b, c):
            await p.connect()
        await publish_av(a)
        await publish_av(c)
        a_id = a.joined["participant_id"]
        await b.wait_frames(a_id, "video", 5)
        audio = next(p for p in a.producers.values() if p["kind"] == "audio" and p["participant_id"] == a_id)
        muted_seen = b.wait_for(lambda m: m["type"] == "track_muted" and m["producer_id"] == audio["producer_id"])
        await a.send({"type": "mute", "producer_id": audio["producer_id"], "muted": True})
        msg = await asyncio.wait_for(muted_seen, 5)
        assert msg["muted"] is True and msg["participant_id"] == a_id

        left_seen = b.wait_for(lambda m: m["type"] == "participant_left" and m["participant_id"] == a_id)
        unpublished = b.wait_for(lambda m: m["type"] == "track_unpublished" and m["participant_id"] == a_id)
        await a.close()
        await asyncio.wait_for(left_seen, 5)
        await asyncio.wait_for(unpublished, 5)
        # b's subscribe connection is renegotiated without a's tracks; c's media keeps flowing
        offer = await asyncio.wait_for(b.wait_for(
            lambda m: m["type"] == "subscribe_offer" and all(x["participant_id"] != a_id for x in m["consumers"])
        ), 5)
        assert offer["consumers"], "c's tracks are still offered"
        c_id = c.joined["participant_id"]
        before = (await b.wait_frames(c_id, "video", 1)).frames
        await asyncio.sleep(1.0)
        assert b.receiving_from(c_id, "video").frames > before
        assert server.media.gauges()["participants"] == 2
