"""Loss repair: 5% loss on a subscriber leg is repaired by NACKs answered from the leg's
cache; an upstream gap too long for NACKs makes the server ask the publisher for a keyframe."""

from __future__ import annotations

import asyncio
import random

import pytest
from aiortc.rtp import is_rtcp

from tests.support.media import PatternVideoTrack
from tests.support.peer import TestPeer
from tests.support.server import RunningServer

pytestmark = pytest.mark.serial


class LossySocket:
    """Stands in for the UDP socket transport of one connection: a lossy network link."""

    def __init__(self, real, rate: float, rng: random.Random) -> None:  # type: ignore[no-untyped-def]
        self.real, self.rate, self.rng = real, rate, rng
        self.counts = {"sent": 0, "dropped": 0}

    def sendto(self, data: bytes, addr: tuple[str, int]) -> None:
        if 127 < data[0] < 192 and not is_rtcp(data):
            self.counts["sent"] += 1
            if self.rng.random() < self.rate:
                self.counts["dropped"] += 1
                return
        self.real.sendto(data, addr)

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self.real, name)


def drop_rtp(ice_transport, rate: float, rng: random.Random) -> LossySocket:  # type: ignore[no-untyped-def]
    """Lose a fraction of the RTP packets sent on an ICE transport's nominated pair."""
    protocol = ice_transport._connection._nominated[1].protocol
    lossy = LossySocket(protocol.transport, rate, rng)
    protocol.transport = lossy
    return lossy


async def test_five_percent_loss_is_repaired_by_nack(server: RunningServer) -> None:
    pub = TestPeer(server.ws_url, server.token("loss", "pub"), "pub")
    sub = TestPeer(server.ws_url, server.token("loss", "sub"), "sub")
    try:
        await pub.connect()
        await pub.publish([(PatternVideoTrack(640, 480, 15, noise=True), "camera")])
        pid = pub.joined["participant_id"]
        await sub.connect()
        await sub.wait_frames(pid, "video", 5)
        leg = server.media.rooms["loss"].participants[sub.joined["participant_id"]]
        ice = next(iter(leg.consumers.values())).handle.sender.transport.transport
        counts = drop_rtp(ice, 0.05, random.Random(7)).counts
        start_frames = sub.receiving_from(pid, "video").frames
        retransmissions = server.media.counters.retransmissions
        await asyncio.sleep(4.0)
        received = sub.receiving_from(pid, "video").frames - start_frames
        assert counts["dropped"] > 5, counts
        assert server.media.counters.nacks_received > 0
        assert server.media.counters.retransmissions > retransmissions
        # 15 fps for 4 s = 60 frames; without repair a 5% loss of ~5-packet frames loses
        # most of them until the next keyframe
        assert received >= 48, f"only {received} frames in 4 s with NACK repair"
    finally:
        await pub.close()
        await sub.close()


async def test_an_upstream_gap_too_long_for_nacks_asks_for_a_keyframe(server: RunningServer) -> None:
    # No subscriber: its own PLIs (a receiver sees the gap too) would hide the server's.
    pub = TestPeer(server.ws_url, server.token("gap", "pub"), "pub")
    try:
        await pub.connect()
        await pub.publish([(PatternVideoTrack(640, 480, 30, noise=True), "camera")])
        participant = server.media.rooms["gap"].participants[pub.joined["participant_id"]]
        producer = next(iter(participant.producers.values()))
        for _ in range(100):
            if producer.packets > 20:
                break
            await asyncio.sleep(0.05)
        plis_before = server.media.counters.plis_sent
        assert pub._publish_pc is not None
        outage = drop_rtp(pub._publish_pc.getSenders()[0].transport.transport, 1.0, random.Random(1))
        for _ in range(160):  # at most 8 s; 256 missing packets make NACKs pointless
            if outage.counts["dropped"] > 300:
                break
            await asyncio.sleep(0.05)
        outage.rate = 0.0
        assert outage.counts["dropped"] > 300, outage.counts
        for _ in range(40):
            if server.media.counters.plis_sent > plis_before:
                break
            await asyncio.sleep(0.05)
        assert server.media.counters.plis_sent > plis_before, "no keyframe request after the gap"
        assert producer.dump()["nacks"]["keyframes_requested"] >= 1  # type: ignore[index]
    finally:
        await pub.close()



async def test_upstream_loss_is_repaired_by_the_publishers_retransmissions(server: RunningServer) -> None:
    # The server NACKs what the publisher's link lost; aiortc answers with RTX packets,
    # which the receive hook unwraps back into the original sequence numbers.
    pub = TestPeer(server.ws_url, server.token("rtx", "pub"), "pub")
    try:
        await pub.connect()
        await pub.publish([(PatternVideoTrack(640, 480, 15, noise=True), "camera")])
        participant = server.media.rooms["rtx"].participants[pub.joined["participant_id"]]
        producer = next(iter(participant.producers.values()))
        for _ in range(100):
            if producer.packets > 20:
                break
            await asyncio.sleep(0.05)
        assert pub._publish_pc is not None
        lossy = drop_rtp(pub._publish_pc.getSenders()[0].transport.transport, 0.05, random.Random(3))
        for _ in range(100):  # at most 5 s
            nacks = producer.dump()["nacks"]
            assert isinstance(nacks, dict)
            if nacks["recovered"] >= 5:
                break
            await asyncio.sleep(0.05)
        assert lossy.counts["dropped"] > 5, lossy.counts
        assert nacks["recovered"] >= 5, nacks  # each arrived as RTX and was unwrapped
    finally:
        await pub.close()
