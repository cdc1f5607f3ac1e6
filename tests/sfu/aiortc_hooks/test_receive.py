"""The aiortc internals sfu/aiortc_hooks/receive.py relies on are still there.

If an aiortc upgrade renames or changes any of these, this file fails first and says which
hook to revisit (the pin in setup.cfg is exact for this reason).
"""

from __future__ import annotations

import inspect

import aiortc
import aiortc.rtcrtpreceiver
import pytest
from aiortc import RTCPeerConnection, RTCRtpReceiver
from aiortc.rtcdtlstransport import RTCDtlsTransport, State
from aiortc.rtcrtpreceiver import StreamStatistics
from aiortc.rtp import RtcpSrPacket, RtpPacket
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sfu.aiortc_hooks import HookError, ReceiveStatistics, hook_receiver
from sfu.packet import ReceivedRtp


def test_aiortc_version_is_the_pinned_one() -> None:
    assert aiortc.__version__ == "1.16.0", "sfu/aiortc_hooks/ was written against aiortc 1.16.0"


@pytest.mark.parametrize("name", ["_handle_rtp_packet", "_handle_rtcp_packet", "_send_rtcp"])
def test_receiver_methods_we_replace_or_call_exist(name: str) -> None:
    assert callable(getattr(RTCRtpReceiver, name, None)), f"RTCRtpReceiver.{name} is gone: revisit sfu/aiortc_hooks/receive.py"


def test_dtls_transport_routes_rtp_to_receiver_handle_rtp_packet() -> None:
    source = inspect.getsource(RTCDtlsTransport._handle_rtp_data)
    assert "receiver._handle_rtp_packet(packet, arrival_time_ms=arrival_time_ms)" in source


async def test_transport_internals_used_by_the_fast_receive_path() -> None:
    import aioice.ice as ice

    pc = RTCPeerConnection()
    try:
        transceiver = pc.addTransceiver("audio")
        dtls = transceiver.receiver.transport
        assert dtls._state is State.NEW
        assert hasattr(dtls, "_rx_srtp")
        assert isinstance(dtls._rtp_router.ssrc_table, dict)
        assert dtls._transport is dtls.transport
        ids = dtls._rtp_header_extensions_map._HeaderExtensionsMap__ids
        assert hasattr(ids, "abs_send_time") and hasattr(ids, "audio_level")
        connection = dtls.transport._connection
        assert isinstance(connection, ice.Connection)
        assert callable(connection.data_received)
    finally:
        await pc.close()


async def test_receiver_private_state_is_where_the_hook_looks() -> None:
    pc = RTCPeerConnection()
    try:
        receiver = pc.addTransceiver("video", direction="sendrecv").receiver
        for name in ("codecs", "rtx_ssrc", "remote_streams", "remote_bitrate_estimator", "rtcp_ssrc"):
            assert hasattr(receiver, "_RTCRtpReceiver__" + name), f"RTCRtpReceiver.__{name} is gone"
        got: list[tuple[ReceivedRtp, float]] = []
        reports: list[tuple[RtcpSrPacket, float]] = []

        async def on_report(packet: RtcpSrPacket, arrival: float) -> None:
            reports.append((packet, arrival))

        tap = hook_receiver(receiver, lambda packet, now: got.append((packet, now)), on_report)
        assert tap.codecs == {}
        assert receiver.__dict__["_sfu_handle_rtp_now"] is not None
        assert dtls_fast(receiver)
    finally:
        await pc.close()


def dtls_fast(receiver: RTCRtpReceiver) -> bool:
    return bool(receiver.transport.__dict__.get("_sfu_fast_receive"))


async def test_a_receiver_without_that_state_is_refused_loudly() -> None:
    pc = RTCPeerConnection()
    try:
        receiver = pc.addTransceiver("video").receiver
        del receiver._RTCRtpReceiver__rtx_ssrc  # what an upgrade that renamed it would look like
        with pytest.raises(HookError, match="__rtx_ssrc"):
            hook_receiver(receiver, lambda packet, now: None, _ignore_report)
    finally:
        await pc.close()


async def _ignore_report(packet: RtcpSrPacket, arrival: float) -> None:
    return None


class _Clock:
    """Stands in for the ``time`` module aiortc's StreamStatistics reads (not ours)."""

    def __init__(self) -> None:
        self.now = 0.0

    def time(self) -> float:
        return self.now


# (sequence step, timestamp step, seconds since the previous packet)
receive_steps = st.lists(
    st.tuples(
        st.one_of(st.integers(-3, 4), st.integers(-40000, 40000)),
        st.sampled_from([0, 0, 3000, 2970, 960, -3000]),
        st.floats(0.0, 0.05),
    ),
    min_size=1,
    max_size=200,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=receive_steps, first_seq=st.integers(0, 0xFFFF), clock_rate=st.sampled_from([90000, 48000]))
def test_receive_statistics_add_at_equals_aiortcs_add(
    monkeypatch: pytest.MonkeyPatch, steps: list[tuple[int, int, float]], first_seq: int, clock_rate: int
) -> None:
    clock = _Clock()
    monkeypatch.setattr(aiortc.rtcrtpreceiver, "time", clock)
    theirs, ours = StreamStatistics(clock_rate), ReceiveStatistics(clock_rate)
    seq, ts, now = first_seq, 1000, 1000.0
    for seq_step, ts_step, dt in steps:
        seq, ts, now = (seq + seq_step) & 0xFFFF, (ts + ts_step) & 0xFFFFFFFF, now + dt
        clock.now = now
        theirs.add(RtpPacket(sequence_number=seq, timestamp=ts))
        ours.add_at(ReceivedRtp(96, 0, seq, ts, 1, b""), now)
        assert (ours.base_seq, ours.max_seq, ours.cycles, ours.packets_received, ours.jitter) == (
            theirs.base_seq,
            theirs.max_seq,
            theirs.cycles,
            theirs.packets_received,
            theirs.jitter,
        )
        assert (ours.packets_lost, ours.fraction_lost) == (theirs.packets_lost, theirs.fraction_lost)
    assert ours.packets_received == len(steps)
