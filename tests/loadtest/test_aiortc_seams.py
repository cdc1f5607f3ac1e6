"""The aiortc/aioice internals loadtest/aiortc_seams.py relies on are still there, and work.

If an aiortc or aioice upgrade renames or changes any of these, this file fails first and
names the seam to revisit (both are pinned exactly in setup.cfg).
"""

from __future__ import annotations

import asyncio
import inspect

import aioice.ice
import pytest
from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCRtpSender, RTCSessionDescription
from aiortc.rtp import RtpPacket

from loadtest.aiortc_seams import (
    SeamError,
    gather_on,
    media_payload_types,
    on_keyframe_request,
    rtp_timestamp_origin,
    tap_rtp,
)
from loadtest.peer import new_peer_connection
from tests.support.media import PatternVideoTrack


def test_what_aiortc_calls_is_what_the_seams_replace() -> None:
    source = inspect.getsource(RTCRtpSender._handle_rtcp_packet)
    assert "self._send_keyframe()" in source, "RTCRtpSender no longer calls _send_keyframe on PLI/FIR"
    assert list(inspect.signature(RTCRtpReceiver._handle_rtp_packet).parameters) == ["self", "packet", "arrival_time_ms"]
    assert "get_host_addresses(" in inspect.getsource(aioice.ice.Connection.gather_candidates)


async def test_missing_private_state_raises_instead_of_falling_back() -> None:
    pc = RTCPeerConnection()
    try:
        receiver = pc.addTransceiver("video").receiver
        assert media_payload_types(receiver) == set()
        assert rtp_timestamp_origin(receiver) is None
        del receiver._RTCRtpReceiver__codecs
        with pytest.raises(SeamError, match="__codecs"):
            media_payload_types(receiver)
        del receiver._RTCRtpReceiver__timestamp_mapper
        with pytest.raises(SeamError, match="__timestamp_mapper"):
            rtp_timestamp_origin(receiver)
    finally:
        await pc.close()


def test_gather_on_is_restored_on_exit() -> None:
    original = aioice.ice.get_host_addresses
    with gather_on(["127.0.0.1"]):
        assert aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=True) == ["127.0.0.1"]
    assert aioice.ice.get_host_addresses is original
    with pytest.raises(RuntimeError, match="inside"), gather_on(["127.0.0.1"]):
        raise RuntimeError("inside")
    assert aioice.ice.get_host_addresses is original


async def test_a_live_call_through_every_seam() -> None:
    """Two aiortc peers on loopback: packets reach the tap, a PLI reaches the callback."""
    with gather_on(["127.0.0.1"]):
        publisher, subscriber = new_peer_connection(), new_peer_connection()
        try:
            sender = publisher.addTransceiver(PatternVideoTrack(160, 120, 15), direction="sendonly").sender
            keyframe_requests: list[int] = []
            on_keyframe_request(sender, lambda: keyframe_requests.append(1))
            receiver = subscriber.addTransceiver("video", direction="recvonly").receiver
            packets: list[RtpPacket] = []
            tap_rtp(receiver, packets.append, pass_on=True)
            await publisher.setLocalDescription(await publisher.createOffer())
            await subscriber.setRemoteDescription(
                RTCSessionDescription(publisher.localDescription.sdp, "offer")
            )
            await subscriber.setLocalDescription(await subscriber.createAnswer())
            await publisher.setRemoteDescription(
                RTCSessionDescription(subscriber.localDescription.sdp, "answer")
            )
            frame = await asyncio.wait_for(receiver.track.recv(), 10)  # decoded: pass_on ran aiortc's path
            assert frame.width == 160
            assert packets and {p.payload_type for p in packets} & media_payload_types(receiver)
            assert rtp_timestamp_origin(receiver) is not None
            await receiver._send_rtcp_pli(packets[-1].ssrc)  # what a subscriber does when it needs a keyframe
            for _ in range(100):
                if keyframe_requests:
                    break
                await asyncio.sleep(0.02)
            assert keyframe_requests, "the PLI reached the callback"
        finally:
            await publisher.close()
            await subscriber.close()
