"""Late joiners' first frame (issue 13): one publisher, then subscribers joining one after
another at random moments; for each, the time from its subscribe connection being connected
(and from its join) to its first decoded video frame, and the keyframe requests (PLI/FIR)
the publisher received, counted at the publisher. What benchmarks/first_frame.py reports
and a test checks on fewer joins. Real aiortc peers, the real server in-process, loopback."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from typing import Any

from aiortc import RTCBundlePolicy, RTCConfiguration, RTCPeerConnection
from aiortc.rtp import RTCP_PSFB_FIR, RTCP_PSFB_PLI, RtcpPsfbPacket

from tests.support.media import PatternVideoTrack
from tests.support.peer import TestPeer
from tests.support.server import RunningServer


class TimedPeer(TestPeer):
    """A test peer that notes when its subscribe connection became connected."""

    __test__ = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.connected_at: float | None = None

    async def _answer_subscribe(self, msg: dict[str, Any]) -> None:
        if self._subscribe_pc is None:
            pc = RTCPeerConnection(RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))
            pc.on("track", self._on_track)
            loop = asyncio.get_running_loop()

            @pc.on("connectionstatechange")
            def on_state() -> None:
                if pc.connectionState == "connected" and self.connected_at is None:
                    self.connected_at = loop.time()

            self._subscribe_pc = pc
        await super()._answer_subscribe(msg)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in [0, 100])."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


@dataclass
class JoinsResult:
    #: connected -> first frame, and join -> first frame, in seconds, one per join
    after_connect: list[float] = field(default_factory=list)
    after_join: list[float] = field(default_factory=list)
    #: arrival times (loop clock) of every PLI/FIR at the publisher
    keyframe_requests: list[float] = field(default_factory=list)
    failed: int = 0

    def max_requests_per_second(self) -> int:
        """Most keyframe requests the publisher got in any window of one second."""
        times = sorted(self.keyframe_requests)
        best = 0
        start = 0
        for end, t in enumerate(times):
            while t - times[start] >= 1.0:
                start += 1
            best = max(best, end - start + 1)
        return best

    def summary(self) -> dict[str, object]:
        def ms(values: list[float], q: float) -> float:
            return round(percentile(values, q) * 1000, 1) if values else float("nan")

        return {
            "joins": len(self.after_connect),
            "failed": self.failed,
            "first_frame_after_connect_ms": {
                "p50": ms(self.after_connect, 50),
                "p90": ms(self.after_connect, 90),
                "p95": ms(self.after_connect, 95),
                "max": ms(self.after_connect, 100),
            },
            "first_frame_after_join_ms": {
                "p50": ms(self.after_join, 50),
                "p95": ms(self.after_join, 95),
                "max": ms(self.after_join, 100),
            },
            "keyframe_requests": len(self.keyframe_requests),
            "max_keyframe_requests_in_1s": self.max_requests_per_second(),
        }


async def late_joins(
    server: RunningServer,
    *,
    joins: int,
    room: str = "late-joins",
    seed: int = 13,
    max_pause: float = 1.0,
    width: int = 320,
    height: int = 240,
) -> JoinsResult:
    """``joins`` subscribers, one after another, each after a random pause in [0, max_pause)."""
    rng = random.Random(seed)
    loop = asyncio.get_running_loop()
    result = JoinsResult()
    pub = TestPeer(server.ws_url, server.token(room, "pub"), "pub")
    try:
        await pub.connect()
        await pub.publish([(PatternVideoTrack(width, height, 30), "camera")])
        assert pub._publish_pc is not None
        sender = pub._publish_pc.getSenders()[0]
        original = sender._handle_rtcp_packet

        async def count_keyframe_requests(packet: Any) -> None:
            if isinstance(packet, RtcpPsfbPacket) and packet.fmt in (RTCP_PSFB_PLI, RTCP_PSFB_FIR):
                result.keyframe_requests.append(loop.time())
            await original(packet)

        sender._handle_rtcp_packet = count_keyframe_requests  # type: ignore[method-assign]
        pid = pub.joined["participant_id"]  # type: ignore[index]
        await asyncio.sleep(1.0)  # past the publisher's first keyframe
        for i in range(joins):
            await asyncio.sleep(rng.uniform(0, max_pause))
            sub = TimedPeer(server.ws_url, server.token(room, f"sub{i}"), f"sub{i}")
            try:
                joined_at = loop.time()
                await sub.connect()
                rec = await sub.wait_frames(pid, "video", 1, timeout=10.0)
                assert rec.first_frame_at is not None and sub.connected_at is not None
                result.after_connect.append(rec.first_frame_at - sub.connected_at)
                result.after_join.append(rec.first_frame_at - joined_at)
            except (AssertionError, TimeoutError):
                result.failed += 1
            finally:
                await sub.close()
    finally:
        await pub.close()
    return result
