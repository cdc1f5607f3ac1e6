"""Screen share, H.264, sender reports, ICE port range."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender, RTCSessionDescription

from sfu.packet.upstream_request import DOWN_HOLD_S
from tests.support.media import PatternVideoTrack, ToneAudioTrack
from tests.support.peer import TestPeer
from tests.support.server import RunningServer, running_server


async def test_screen_share_is_an_extra_track(server: RunningServer) -> None:
    pub = TestPeer(server.ws_url, server.token("screen", "pub"), "pub")
    sub = TestPeer(server.ws_url, server.token("screen", "sub"), "sub")
    try:
        await pub.connect()
        await sub.connect()
        await pub.publish([(PatternVideoTrack(320, 240, 15), "camera"), (ToneAudioTrack(), "microphone")])
        pid = pub.joined["participant_id"]
        await sub.wait_frames(pid, "video", 3)
        # later, the same publisher shares its screen: a renegotiation of its publish connection
        screen = await pub.publish([(PatternVideoTrack(640, 360, 5), "screen")])
        assert screen[0]["source"] == "screen"
        published = await asyncio.wait_for(
            sub.wait_for(lambda m: m["type"] == "track_published" and m["producer"]["source"] == "screen"), 5
        )
        assert published["producer"]["participant_id"] == pid
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while loop.time() < deadline:
            rec = sub.received.get(screen[0]["producer_id"])
            if rec is not None and rec.frames >= 3:
                break
            await asyncio.sleep(0.05)
        rec = sub.received.get(screen[0]["producer_id"])
        assert rec is not None and rec.source == "screen" and rec.sizes[-1] == (640, 360)
        # and stopping the share removes it at the other side
        gone = sub.wait_for(lambda m: m["type"] == "track_unpublished" and m["producer_id"] == screen[0]["producer_id"])
        await pub.send({"type": "unpublish", "producer_id": screen[0]["producer_id"]})
        await asyncio.wait_for(gone, 5)
    finally:
        await pub.close()
        await sub.close()


async def test_h264_is_forwarded_when_offered(server: RunningServer) -> None:
    pub = TestPeer(server.ws_url, server.token("h264", "pub"), "pub")
    sub = TestPeer(server.ws_url, server.token("h264", "sub"), "sub")
    try:
        await pub.connect()
        await sub.connect()
        # the publisher offers H.264 only, as a browser preferring it would
        pub._publish_pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        track = PatternVideoTrack(320, 240, 15)
        transceiver = pub._publish_pc.addTransceiver(track, direction="sendonly")
        h264 = [c for c in RTCRtpSender.getCapabilities("video").codecs if c.mimeType in ("video/H264", "video/rtx")]
        transceiver.setCodecPreferences(h264)
        offer = await pub._publish_pc.createOffer()
        await pub._publish_pc.setLocalDescription(offer)
        reply = await pub.request(
            {"type": "offer", "pc": "publish", "sdp": pub._publish_pc.localDescription.sdp, "tracks": [{"mid": transceiver.mid, "source": "camera"}]},
            expect=("answer",),
        )
        await pub._publish_pc.setRemoteDescription(RTCSessionDescription(sdp=reply["sdp"], type="answer"))
        pid = pub.joined["participant_id"]
        rec = await sub.wait_frames(pid, "video", 10)
        assert rec.sizes[-1] == (320, 240)
        offer_msg = next(m for m in sub.messages if m["type"] == "subscribe_offer")
        assert re.search(r"a=rtpmap:\d+ H264/90000", offer_msg["sdp"])
        assert not re.search(r"a=rtpmap:\d+ VP8/90000", offer_msg["sdp"])
        assert server.media.counters.frames_decoded == 0
    finally:
        await pub.close()
        await sub.close()


async def test_every_leg_gets_sender_reports(server: RunningServer) -> None:
    pub = TestPeer(server.ws_url, server.token("sr", "pub"), "pub")
    sub = TestPeer(server.ws_url, server.token("sr", "sub"), "sub")
    try:
        await pub.connect()
        await pub.publish([(PatternVideoTrack(320, 240, 15), "camera"), (ToneAudioTrack(), "microphone")])
        await sub.connect()
        pid = pub.joined["participant_id"]
        await sub.wait_frames(pid, "video", 5)
        await sub.wait_frames(pid, "audio", 5)
        await asyncio.sleep(2.5)
        kinds = set()
        assert sub._subscribe_pc is not None
        for transceiver in sub._subscribe_pc.getTransceivers():
            stats = await transceiver.receiver.getStats()
            for s in stats.values():
                if s.type == "remote-outbound-rtp" and s.packetsSent > 0:
                    kinds.add(transceiver.kind)
        assert kinds == {"audio", "video"}
    finally:
        await pub.close()
        await sub.close()


async def test_ice_port_range_is_honoured(tmp_path: Any) -> None:
    async with running_server(tmp_path, ice__port_min=41000, ice__port_max=41010) as srv:
        peer = TestPeer(srv.ws_url, srv.token("ports", "a"), "a")
        try:
            await peer.connect()
            await peer.publish([(ToneAudioTrack(), "microphone")])
            answer = next(m for m in peer.messages if m["type"] == "answer")
            ports = [int(p) for p in re.findall(r"a=candidate:\S+ \d+ udp \d+ 127\.0\.0\.1 (\d+) typ host", answer["sdp"])]
            assert ports and all(41000 <= p <= 41010 for p in ports), ports
        finally:
            await peer.close()


async def test_a_publisher_can_be_asked_to_send_less(server: RunningServer) -> None:
    pub = TestPeer(server.ws_url, server.token("ask", "pub"), "pub")
    viewer = TestPeer(server.ws_url, server.token("ask", "viewer"), "viewer")
    try:
        await pub.connect()
        video = (await pub.publish([(PatternVideoTrack(320, 240, 15), "camera")]))[0]
        await viewer.connect()
        asked = pub.wait_for(lambda m: m["type"] == "resolution_requested")
        await viewer.send({"type": "request_resolution", "producer_id": video["producer_id"], "max_height": 180})
        msg = await asyncio.wait_for(asked, 5)
        assert msg == {"v": 1, "type": "resolution_requested", "producer_id": video["producer_id"], "max_height": 180}
        reply = await viewer.request({"type": "request_resolution", "producer_id": "TR_none", "max_height": 180}, expect=("error",))
        assert reply["code"] == "not_found"
    finally:
        await pub.close()
        await viewer.close()


async def test_a_loopback_server_ignores_candidates_outside_loopback(server: RunningServer) -> None:
    """A browser may offer the machine's other interfaces; a loopback server never uses them."""
    import aioice.ice

    from sfu.media_server import LOOPBACK_NETWORKS, effective_remote_networks

    assert effective_remote_networks(server.config.sfu.ice) == LOOPBACK_NETWORKS
    # The ICE rules are applied to aioice with the media stack, at the first room (as a join does).
    await server.media.load_media_stack()
    connection = aioice.ice.Connection(ice_controlling=True)
    try:
        for host in ("192.0.2.2", "10.1.2.3", "127.0.0.1"):
            candidate = aioice.Candidate(
                foundation="1", component=1, transport="udp", priority=1, host=host, port=5000, type="host"
            )
            await connection.add_remote_candidate(candidate)
        assert [c.host for c in connection.remote_candidates] == ["127.0.0.1"]
    finally:
        await connection.close()


@pytest.mark.long
async def test_a_publisher_whose_every_subscriber_is_capped_is_asked_to_send_less(server: RunningServer) -> None:
    """Issue 15, item 3: two subscribers both cap a 640x480 camera to 320x240: the publisher is
    asked for 240 lines (after the 3 s hold); one lifts its cap: the full size again at once."""
    pub = TestPeer(server.ws_url, server.token("upstream", "pub"), "pub")
    subs = [TestPeer(server.ws_url, server.token("upstream", f"sub{i}"), f"sub{i}") for i in range(2)]
    try:
        await pub.connect()
        video = (await pub.publish([(PatternVideoTrack(640, 480, 15), "camera")]))[0]
        pid = pub.joined["participant_id"]
        for sub in subs:
            await sub.connect()
            await sub.wait_frames(pid, "video", 3)
        asked = pub.wait_for(lambda m: m["type"] == "resolution_requested")
        await subs[0].send({"type": "subscription", "producer_id": video["producer_id"], "max_width": 320, "max_height": 240})
        await asyncio.sleep(DOWN_HOLD_S + 1)  # one subscriber capped, the other not: nothing asked
        assert not asked.done()
        await subs[1].send({"type": "subscription", "producer_id": video["producer_id"], "max_width": 320, "max_height": 240})
        msg = await asyncio.wait_for(asked, DOWN_HOLD_S + 5)
        assert msg == {"v": 1, "type": "resolution_requested", "producer_id": video["producer_id"], "max_height": 240}
        full = pub.wait_for(lambda m: m["type"] == "resolution_requested" and m["max_height"] is None)
        await subs[1].send({"type": "subscription", "producer_id": video["producer_id"]})
        msg = await asyncio.wait_for(full, 3)  # at once: not after the adaptation's up-switch hold
        assert msg["producer_id"] == video["producer_id"]
        # the subscribers are told nothing of it
        assert not any(m["type"] == "resolution_requested" for s in subs for m in s.messages)
    finally:
        await pub.close()
        for sub in subs:
            await sub.close()
