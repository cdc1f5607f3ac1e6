"""The server tells a video publisher how much bandwidth it sees (REMB), from the
abs-send-time of what it receives, and the receiver report figures stay right."""

from __future__ import annotations

import asyncio

from aiortc.rtp import (
    RTCP_PSFB_APP,
    AnyRtcpPacket,
    RtcpPsfbPacket,
    RtcpRrPacket,
    RtcpSrPacket,
    unpack_remb_fci,
)

from tests.support.media import PatternVideoTrack
from tests.support.peer import TestPeer
from tests.support.server import RunningServer


async def test_a_video_publisher_gets_rembs_and_receiver_reports(server: RunningServer) -> None:
    pub = TestPeer(server.ws_url, server.token("remb", "pub"), "pub")
    rembs: list[tuple[int, list[int]]] = []
    reports: list[int] = []
    try:
        await pub.connect()
        await pub.publish([(PatternVideoTrack(640, 480, 30, noise=True), "camera")])
        assert pub._publish_pc is not None
        sender = pub._publish_pc.getSenders()[0]
        original = sender._handle_rtcp_packet

        async def record(packet: AnyRtcpPacket) -> None:  # the publisher is aiortc's, not ours
            if isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
                rembs.append(unpack_remb_fci(packet.fci))
            elif isinstance(packet, (RtcpRrPacket, RtcpSrPacket)):
                reports.extend(r.ssrc for r in packet.reports)
            await original(packet)

        sender._handle_rtcp_packet = record  # type: ignore[method-assign]
        # The estimate starts after 3 s of throughput (libwebrtc's rule), then every 0.5 s.
        for _ in range(160):
            if len(rembs) >= 2 and reports:
                break
            await asyncio.sleep(0.05)
        assert len(rembs) >= 2, f"no REMB from the server in 8 s: {rembs}"
        bitrate, ssrcs = rembs[-1]
        assert ssrcs == [sender._ssrc]
        assert 100_000 < bitrate < 100_000_000, bitrate  # the publisher sends ~1 Mbit/s on loopback
        assert sender._ssrc in reports  # aiortc's receiver reports read our ReceiveStatistics
    finally:
        await pub.close()
