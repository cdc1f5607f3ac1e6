"""One publisher and one subscriber whose subscribe connection crosses an impaired link
(tests/support/udp_relay.py): what the loss-repair tests and benchmarks/retransmissions.py
measure. Real aiortc peers, the real server in-process, everything on loopback."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from tests.support.media import PatternVideoTrack
from tests.support.peer import TestPeer
from tests.support.server import RunningServer
from tests.support.udp_relay import LinkProfile, UdpRelay

#: The link of issue 13: 5 % loss, 30 +- 10 ms delay drawn per packet (so packets reorder).
LOSSY_REORDERING = LinkProfile(loss=0.05, delay=0.030, jitter=0.010)


@dataclass
class LossyCallResult:
    seconds: float
    fps: float
    frames: int
    #: RTP packets towards the subscriber: first copies, repeats (retransmissions), dropped
    originals: int
    retransmitted: int
    lost: int
    #: retransmissions of a packet whose earlier copy the link had delivered (reordered, not lost)
    retransmitted_delivered: int
    server_retransmissions: int
    server_suppressed: int
    nacks_received: int
    rtt_ms: float

    @property
    def per_lost(self) -> float:
        return self.retransmitted / self.lost if self.lost else 0.0

    def summary(self) -> dict[str, object]:
        return {**self.__dict__, "retransmissions_per_lost_packet": round(self.per_lost, 2)}


async def lossy_call(
    server: RunningServer,
    *,
    room: str,
    seconds: float,
    profile: LinkProfile = LOSSY_REORDERING,
    width: int = 640,
    height: int = 480,
    fps: int = 30,
    seed: int = 13,
) -> LossyCallResult:
    relay = UdpRelay(profile, seed=seed)
    await relay.start()
    pub = TestPeer(server.ws_url, server.token(room, "pub"), "pub")
    sub = TestPeer(server.ws_url, server.token(room, "sub"), "sub")
    sub.sdp_filter = relay.rewrite_sdp
    try:
        await pub.connect()
        await pub.publish([(PatternVideoTrack(width, height, fps, noise=True), "camera")])
        pid = pub.joined["participant_id"]  # type: ignore[index]
        await sub.connect()
        rec = await sub.wait_frames(pid, "video", 10, timeout=30.0)
        await asyncio.sleep(2.0)  # a sender report and its receiver report: the RTT is known
        counters = server.media.counters

        def suppressed() -> int:  # absent before issue 13: benchmarks run on older trees too
            return int(getattr(counters, "retransmissions_suppressed", 0))

        start = (
            rec.frames,
            relay.down_rtp.total(),
            counters.retransmissions,
            suppressed(),
            counters.nacks_received,
        )
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        await asyncio.sleep(seconds)
        elapsed = loop.time() - t0
        end = relay.down_rtp.total()
        frames = rec.frames - start[0]
        leg = server.media.rooms[room].participants[sub.joined["participant_id"]]  # type: ignore[index]
        repair = next(iter(leg.consumers.values())).dump().get("repair", {"rtt_ms": "nan"})
        assert isinstance(repair, dict)
        return LossyCallResult(
            seconds=round(elapsed, 2),
            fps=round(frames / elapsed, 1),
            frames=frames,
            originals=end.originals - start[1].originals,
            retransmitted=end.repeats - start[1].repeats,
            lost=end.dropped - start[1].dropped,
            retransmitted_delivered=end.repeats_of_delivered - start[1].repeats_of_delivered,
            server_retransmissions=counters.retransmissions - start[2],
            server_suppressed=suppressed() - start[3],
            nacks_received=counters.nacks_received - start[4],
            rtt_ms=float(repair["rtt_ms"]),
        )
    finally:
        await sub.close()
        await pub.close()
        relay.close()
