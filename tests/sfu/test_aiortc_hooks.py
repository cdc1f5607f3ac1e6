"""The private aiortc/aioice API that sfu/aiortc_hooks.py relies on is still there.

If an aiortc upgrade renames or changes any of these, this file fails first and says
which hook to revisit (the pin in setup.cfg is exact for this reason).
"""

from __future__ import annotations

import inspect

import aioice.ice
import aiortc
import aiortc.rtcrtpreceiver
import pytest
from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCRtpSender
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcrtpreceiver import StreamStatistics
from aiortc.rtp import RtpPacket
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sfu import aiortc_hooks
from sfu.packet import ReceivedRtp


def test_aiortc_version_is_the_pinned_one() -> None:
    assert aiortc.__version__ == "1.16.0", "sfu/aiortc_hooks.py was written against aiortc 1.16.0"


@pytest.mark.parametrize(
    ("cls", "name"),
    [
        (RTCRtpReceiver, "_handle_rtp_packet"),
        (RTCRtpReceiver, "_handle_rtcp_packet"),
        (RTCRtpReceiver, "_send_rtcp_pli"),
        (RTCRtpReceiver, "_send_rtcp_nack"),
        (RTCRtpReceiver, "_send_rtcp"),
        (RTCRtpSender, "_run_rtp"),
        (RTCRtpSender, "_run_rtcp"),
        (RTCRtpSender, "_handle_rtcp_packet"),
        (RTCRtpSender, "send"),
        (RTCDtlsTransport, "_send_rtp"),
        (RTCPeerConnection, "_RTCPeerConnection__localRtp"),
        (RTCPeerConnection, "_RTCPeerConnection__remoteRtp"),
    ],
)
def test_private_methods_exist(cls: type, name: str) -> None:
    assert callable(getattr(cls, name, None)), f"{cls.__name__}.{name} is gone: revisit sfu/aiortc_hooks.py"


async def test_transport_internals_used_by_the_fast_paths() -> None:
    import aioice.ice as ice
    from aiortc.rtcdtlstransport import State

    pc = RTCPeerConnection()
    try:
        transceiver = pc.addTransceiver("audio")
        dtls = transceiver.receiver.transport
        assert dtls._state is State.NEW
        assert hasattr(dtls, "_rx_srtp") and hasattr(dtls, "_tx_srtp")
        assert isinstance(dtls._rtp_router.ssrc_table, dict)
        assert dtls._transport is dtls.transport
        assert transceiver.sender._RTCRtpSender__transport is transceiver.sender.transport
        ids = dtls._rtp_header_extensions_map._HeaderExtensionsMap__ids
        assert hasattr(ids, "abs_send_time") and hasattr(ids, "audio_level")
        connection = dtls.transport._connection
        assert isinstance(connection, ice.Connection)
        assert isinstance(connection._nominated, dict)
        assert callable(connection.data_received)
    finally:
        await pc.close()
    source = inspect.getsource(ice.StunProtocol.datagram_received)
    assert "self.receiver.data_received(data, self.local_candidate.component)" in source
    source = inspect.getsource(ice.Connection.sendto)
    assert "active_pair.protocol.send_data(data, active_pair.remote_addr)" in source
    # send_now reads these once per nominated pair (see aiortc_hooks._Route)
    source = inspect.getsource(ice.CandidatePair)
    assert "def remote_addr(self)" in source and "self.protocol = protocol" in source


def test_dtls_transport_routes_rtp_to_receiver_handle_rtp_packet() -> None:
    source = inspect.getsource(RTCDtlsTransport._handle_rtp_data)
    assert "receiver._handle_rtp_packet(packet, arrival_time_ms=arrival_time_ms)" in source


def test_sender_run_rtp_receives_the_codec_and_send_starts_the_tasks() -> None:
    assert list(inspect.signature(RTCRtpSender._run_rtp).parameters) == ["self", "codec"]
    source = inspect.getsource(RTCRtpSender.send)
    assert "self._run_rtp(" in source and "self._run_rtcp()" in source


def test_aioice_host_address_hook() -> None:
    assert callable(aioice.ice.get_host_addresses)
    source = inspect.getsource(aioice.ice.Connection.gather_candidates)
    assert "get_host_addresses(" in source
    source = inspect.getsource(aioice.ice.Connection.get_component_candidates)
    assert "asyncio.get_running_loop()" in source and "local_addr=(address, 0)" in source
    assert getattr(aioice.ice, "asyncio", None) is not None


async def test_receiver_and_sender_private_state_is_where_the_hooks_look() -> None:
    pc = RTCPeerConnection()
    try:
        transceiver = pc.addTransceiver("video", direction="sendrecv")

        async def sink(*args: object) -> None:
            return None

        tap = aiortc_hooks.hook_receiver(transceiver.receiver, sink, sink)
        assert tap.codecs == {}
        handle = aiortc_hooks.take_over_sender(transceiver.sender, sink)
        assert handle.ssrc == transceiver.sender._ssrc
        assert aiortc_hooks.negotiated_codecs(transceiver) == []
    finally:
        await pc.close()


def test_host_addresses_are_configurable() -> None:
    aiortc_hooks.configure_host_addresses(["127.0.0.1", "::1"])
    assert aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=False) == ["127.0.0.1"]
    assert aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=True) == ["127.0.0.1", "::1"]
    aiortc_hooks.configure_host_addresses(["127.0.0.1"])


class _Connection:
    """Stands in for aioice's Connection (not ours): records what the protocol hands on."""

    def __init__(self) -> None:
        self.data: list[bytes] = []
        self.requests: list[object] = []

    def data_received(self, data: bytes, component: int) -> None:
        self.data.append(data)

    def request_received(self, message: object, addr: tuple[str, int], protocol: object) -> None:
        self.requests.append(message)


def test_stun_fast_path_hands_media_on_and_still_parses_stun() -> None:
    from aioice import stun

    connection = _Connection()
    protocol = aioice.ice.StunProtocol(connection)
    protocol.local_candidate = aioice.Candidate("1", 1, "udp", 1, "127.0.0.1", 5000, "host")
    request = stun.Message(stun.Method.BINDING, stun.Class.REQUEST)
    rtp = bytes([0x90, 0x60]) + bytes(30)
    dtls = bytes([22, 0xFE, 0xFD]) + bytes(20)
    aiortc_hooks.configure_stun_fast_path(True)
    try:
        assert aioice.ice.StunProtocol.datagram_received is not aiortc_hooks._ORIGINAL_DATAGRAM_RECEIVED
        for data in (rtp, dtls, bytes(request)):
            protocol.datagram_received(data, ("127.0.0.1", 6000))
    finally:
        aiortc_hooks.configure_stun_fast_path(False)
    assert connection.data == [rtp, dtls]
    assert len(connection.requests) == 1
    assert aioice.ice.StunProtocol.datagram_received is aiortc_hooks._ORIGINAL_DATAGRAM_RECEIVED


async def test_media_server_close_gives_back_aioices_datagram_handler() -> None:
    from sfu.config import SfuConfig
    from sfu.media_server import MediaServer

    server = MediaServer(SfuConfig())
    assert aioice.ice.StunProtocol.datagram_received is not aiortc_hooks._ORIGINAL_DATAGRAM_RECEIVED
    await server.close()
    assert aioice.ice.StunProtocol.datagram_received is aiortc_hooks._ORIGINAL_DATAGRAM_RECEIVED


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
    theirs, ours = StreamStatistics(clock_rate), aiortc_hooks.ReceiveStatistics(clock_rate)
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
