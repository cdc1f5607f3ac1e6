"""5% packet loss on a subscriber leg: NACKs answered from the leg's cache keep video flowing."""

from __future__ import annotations

import asyncio
import random

from aiortc.rtp import is_rtcp

from tests.support.media import PatternVideoTrack
from tests.support.peer import TestPeer
from tests.support.server import RunningServer


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


def drop_rtp(ice_transport, rate: float, rng: random.Random) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Lose a fraction of the RTP packets sent on an ICE transport's nominated pair."""
    protocol = ice_transport._connection._nominated[1].protocol
    lossy = LossySocket(protocol.transport, rate, rng)
    protocol.transport = lossy
    return lossy.counts


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
        counts = drop_rtp(ice, 0.05, random.Random(7))
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
