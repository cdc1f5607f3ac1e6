"""The aiortc internals sfu/aiortc_hooks/send.py relies on are still there."""

from __future__ import annotations

import inspect

import aioice.ice as ice
import pytest
from aiortc import RTCPeerConnection, RTCRtpSender
from aiortc.rtcdtlstransport import RTCDtlsTransport, State
from aiortc.rtp import AnyRtcpPacket

from sfu.aiortc_hooks import HookError, send_now, take_over_sender


@pytest.mark.parametrize("name", ["_run_rtp", "_run_rtcp", "_handle_rtcp_packet", "send"])
def test_sender_methods_we_replace_exist(name: str) -> None:
    assert callable(getattr(RTCRtpSender, name, None)), f"RTCRtpSender.{name} is gone: revisit sfu/aiortc_hooks/send.py"


def test_dtls_send_rtp_exists() -> None:
    assert callable(getattr(RTCDtlsTransport, "_send_rtp", None))


def test_sender_run_rtp_receives_the_codec_and_send_starts_the_tasks() -> None:
    assert list(inspect.signature(RTCRtpSender._run_rtp).parameters) == ["self", "codec"]
    source = inspect.getsource(RTCRtpSender.send)
    assert "self._run_rtp(" in source and "self._run_rtcp()" in source


def test_the_nominated_pair_is_read_the_way_send_now_reads_it() -> None:
    source = inspect.getsource(ice.Connection.sendto)
    assert "active_pair.protocol.send_data(data, active_pair.remote_addr)" in source
    # send_now reads these once per nominated pair (see send._Route)
    source = inspect.getsource(ice.CandidatePair)
    assert "def remote_addr(self)" in source and "self.protocol = protocol" in source


async def _sink(packet: AnyRtcpPacket, now: float) -> None:
    return None


async def test_sender_and_transport_private_state_is_where_the_hooks_look() -> None:
    pc = RTCPeerConnection()
    try:
        transceiver = pc.addTransceiver("video", direction="sendonly")
        sender = transceiver.sender
        handle = take_over_sender(sender, _sink)
        assert handle.ssrc == sender._ssrc
        assert sender._RTCRtpSender__transport is sender.transport
        dtls = sender.transport
        assert dtls._state is State.NEW and hasattr(dtls, "_tx_srtp")
        assert isinstance(dtls._transport._connection._nominated, dict)
        assert send_now(dtls, b"\x80" * 20) is False  # not connected: dropped, no error
    finally:
        await pc.close()


async def test_a_sender_without_that_state_is_refused_loudly() -> None:
    pc = RTCPeerConnection()
    try:
        sender = pc.addTransceiver("video", direction="sendonly").sender
        del sender._RTCRtpSender__rtcp_exited
        with pytest.raises(HookError, match="__rtcp_exited"):
            take_over_sender(sender, _sink)
    finally:
        await pc.close()
