"""parse_rtp reads what aiortc's RtpPacket.parse reads (on packets aiortc writes), and
turns every malformed datagram into RtpParseError."""

from __future__ import annotations

import pytest
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import HeaderExtensionsMap, RtpPacket
from hypothesis import given, settings
from hypothesis import strategies as st

from sfu.packet import ReceivedRtp, RtpParseError, parse_rtp

ABS_SEND_TIME = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
AUDIO_LEVEL = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
MID = "urn:ietf:params:rtp-hdrext:sdes:mid"
TRANSPORT_CC = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"


def _extension_map(ids: dict[str, int]) -> HeaderExtensionsMap:
    extensions = HeaderExtensionsMap()
    extensions.configure(
        RTCRtpParameters(headerExtensions=[RTCRtpHeaderExtensionParameters(id=i, uri=u) for u, i in ids.items()])
    )
    return extensions


@st.composite
def packets(draw: st.DrawFn) -> tuple[bytes, dict[str, int]]:
    # Distinct ids; above 14 forces aiortc to write the two-byte form.
    ids = draw(st.lists(st.integers(1, 255), min_size=4, max_size=4, unique=True))
    negotiated = dict(zip((ABS_SEND_TIME, AUDIO_LEVEL, MID, TRANSPORT_CC), ids, strict=True))
    packet = RtpPacket(
        payload_type=draw(st.integers(0, 127)),
        marker=draw(st.integers(0, 1)),
        sequence_number=draw(st.integers(0, 0xFFFF)),
        timestamp=draw(st.integers(0, 0xFFFFFFFF)),
        ssrc=draw(st.integers(0, 0xFFFFFFFF)),
        payload=draw(st.binary(max_size=64)),
    )
    packet.csrc = draw(st.lists(st.integers(0, 0xFFFFFFFF), max_size=15))
    packet.padding_size = draw(st.integers(0, 255))
    packet.extensions.abs_send_time = draw(st.none() | st.integers(0, 0xFFFFFF))
    packet.extensions.audio_level = draw(st.none() | st.tuples(st.booleans(), st.integers(0, 127)))
    packet.extensions.mid = draw(st.none() | st.text("abc0123456789", min_size=1, max_size=20))
    packet.extensions.transport_sequence_number = draw(st.none() | st.integers(0, 0xFFFF))
    return packet.serialize(_extension_map(negotiated)), negotiated


@settings(max_examples=400, deadline=None)
@given(case=packets(), know_abs=st.booleans(), know_level=st.booleans())
def test_reads_what_aiortc_reads(case: tuple[bytes, dict[str, int]], know_abs: bool, know_level: bool) -> None:
    data, negotiated = case
    abs_id = negotiated[ABS_SEND_TIME] if know_abs else None
    level_id = negotiated[AUDIO_LEVEL] if know_level else None
    known = {u: i for u, i in negotiated.items() if (u != ABS_SEND_TIME or know_abs) and (u != AUDIO_LEVEL or know_level)}
    theirs = RtpPacket.parse(data, _extension_map(known))
    ours = parse_rtp(data, abs_id, level_id)
    assert (ours.payload_type, ours.marker, ours.sequence_number, ours.timestamp, ours.ssrc) == (
        theirs.payload_type,
        theirs.marker,
        theirs.sequence_number,
        theirs.timestamp,
        theirs.ssrc,
    )
    assert ours.payload == theirs.payload
    assert ours.padding_size == theirs.padding_size
    assert ours.abs_send_time == theirs.extensions.abs_send_time
    assert ours.audio_level == theirs.extensions.audio_level


def test_a_chrome_like_video_packet() -> None:
    # One-byte block: abs-send-time (id 2), a transport-cc element we do not read (id 3), padding.
    data = bytes.fromhex("90600102" "00000bb8" "12345678" "bede0002" "22 0a0b0c 31 0001 00") + b"\x90\x80vp8"
    packet = parse_rtp(data, 2, 1)
    assert isinstance(packet, ReceivedRtp)
    assert (packet.payload_type, packet.marker, packet.sequence_number, packet.timestamp) == (96, 0, 0x0102, 3000)
    assert packet.ssrc == 0x12345678
    assert packet.abs_send_time == 0x0A0B0C
    assert packet.audio_level is None
    assert packet.payload == b"\x90\x80vp8"


def test_wrong_sized_elements_are_ignored() -> None:
    # abs-send-time of 2 bytes and an audio level of 2 bytes: neither is read.
    data = bytes.fromhex("90000001" "00000000" "00000001" "bede0002" "21 0a0b 11 8102 0000") + b"x"
    packet = parse_rtp(data, 2, 1)
    assert packet.abs_send_time is None and packet.audio_level is None
    assert packet.payload == b"x"


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"\x80\x00\x00", "shorter than the 12-byte header"),
        (bytes.fromhex("40000001" "00000000" "00000001"), "version is 1"),
        (bytes.fromhex("82000001" "00000000" "00000001" "00000002"), "CSRC"),
        (bytes.fromhex("90000001" "00000000" "00000001" "bede"), "before its length"),
        (bytes.fromhex("90000001" "00000000" "00000001" "bede0002" "22 0a0b0c"), "longer than the packet"),
        (bytes.fromhex("90000001" "00000000" "00000001" "bede0001" "00 00 00 3a"), "element 3 is truncated"),
        (bytes.fromhex("90000001" "00000000" "00000001" "10000001" "00 00 05 09"), "element 5 is truncated"),
        (bytes.fromhex("a0000001" "00000000" "00000001" "aabb00"), "padding length 0"),
        (bytes.fromhex("a0000001" "00000000" "00000001" "aabb09"), "padding length 9"),
    ],
)
def test_malformed_packets_name_the_problem(data: bytes, problem: str) -> None:
    with pytest.raises(RtpParseError, match=problem):
        parse_rtp(data, 3, 5)


@settings(max_examples=500, deadline=None)
@given(data=st.binary(max_size=80), abs_id=st.none() | st.integers(1, 255), level_id=st.none() | st.integers(1, 255))
def test_any_datagram_parses_or_raises_rtp_parse_error(data: bytes, abs_id: int | None, level_id: int | None) -> None:
    # RTP-looking starts are the interesting ones: force version 2 on half of them.
    for candidate in (data, bytes([0x80 | (data[0] & 0x3F)]) + data[1:] if data else data):
        try:
            packet = parse_rtp(candidate, abs_id, level_id)
        except RtpParseError:
            continue
        assert len(packet.payload) + packet.padding_size <= len(candidate) - 12
