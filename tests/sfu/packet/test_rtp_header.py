import pytest
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import HeaderExtensionsMap, RtpPacket, unwrap_rtx
from hypothesis import given, settings
from hypothesis import strategies as st

from sfu.packet.rtp_header import (
    ABS_SEND_TIME_URI,
    AUDIO_LEVEL_URI,
    MID_URI,
    ExtensionIds,
    RtpHeaderError,
    RtpHeaderWriter,
    abs_send_time_from_seconds,
    build_rtx_packet,
    rtp_payload_offset,
    wrap_rtx,
)

IDS = ExtensionIds(mid=4, abs_send_time=2, audio_level=1)


def _aiortc_map(ids: ExtensionIds) -> HeaderExtensionsMap:
    extensions = []
    for uri, ext_id in (
        (MID_URI, ids.mid),
        (ABS_SEND_TIME_URI, ids.abs_send_time),
        (AUDIO_LEVEL_URI, ids.audio_level),
    ):
        if ext_id is not None:
            extensions.append(RTCRtpHeaderExtensionParameters(id=ext_id, uri=uri))
    ext_map = HeaderExtensionsMap()
    ext_map.configure(RTCRtpParameters(headerExtensions=extensions))
    return ext_map


def test_no_extensions_plain_header():
    writer = RtpHeaderWriter(ExtensionIds())
    data = writer.build(96, True, 65535, 2**32 - 1, 0x11223344, b"payload", mid="0")
    assert len(data) == 12 + 7
    assert data[0] == 0x80  # V=2, no X bit: mid dropped because its id is not negotiated
    packet = RtpPacket.parse(data)
    assert (packet.payload_type, packet.marker, packet.sequence_number) == (96, 1, 65535)
    assert (packet.timestamp, packet.ssrc, packet.payload) == (2**32 - 1, 0x11223344, b"payload")


def test_all_extensions_round_trip_through_aiortc():
    writer = RtpHeaderWriter(IDS)
    data = writer.build(
        111,
        False,
        7,
        123456,
        42,
        b"\x01\x02\x03",
        mid="audio0",
        abs_send_time=0xABCDEF,
        audio_level=(True, 33),
    )
    assert len(data) % 4 == 3  # header+ext 32-bit aligned, then the 3-byte payload
    packet = RtpPacket.parse(data, _aiortc_map(IDS))
    assert packet.payload_type == 111
    assert packet.marker == 0
    assert packet.sequence_number == 7
    assert packet.timestamp == 123456
    assert packet.ssrc == 42
    assert packet.payload == b"\x01\x02\x03"
    assert packet.extensions.mid == "audio0"
    assert packet.extensions.abs_send_time == 0xABCDEF
    assert packet.extensions.audio_level == (True, 33)


def test_same_bytes_as_aiortc_serializer():
    ext_map = _aiortc_map(IDS)
    reference = RtpPacket(
        payload_type=96, marker=1, sequence_number=9, timestamp=10, ssrc=11, payload=b"xyz"
    )
    reference.extensions.mid = "1"
    reference.extensions.abs_send_time = 0x123456
    writer = RtpHeaderWriter(IDS)
    ours = writer.build(96, 1, 9, 10, 11, b"xyz", mid="1", abs_send_time=0x123456)
    assert ours == reference.serialize(ext_map)


def test_mid_cached_and_changed():
    writer = RtpHeaderWriter(ExtensionIds(mid=3))
    ext_map = _aiortc_map(ExtensionIds(mid=3))
    first = writer.build(96, 0, 1, 1, 1, b"", mid="a")
    second = writer.build(96, 0, 2, 1, 1, b"", mid="a")
    assert first[12:] == second[12:]
    assert (
        RtpPacket.parse(writer.build(96, 0, 3, 1, 1, b"", mid="video12"), ext_map).extensions.mid
        == "video12"
    )
    assert (
        RtpPacket.parse(writer.build(96, 0, 3, 1, 1, b"", mid="a"), ext_map).extensions.mid == "a"
    )


@pytest.mark.parametrize("mid", ["", "x" * 17])
def test_mid_length_rule(mid):
    with pytest.raises(RtpHeaderError, match="mid"):
        RtpHeaderWriter(IDS).build(96, 0, 1, 1, 1, b"", mid=mid)


def test_sixteen_byte_mid_ok():
    mid = "m" * 16
    data = RtpHeaderWriter(IDS).build(96, 0, 1, 1, 1, b"p", mid=mid)
    assert RtpPacket.parse(data, _aiortc_map(IDS)).extensions.mid == mid


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ((128, 0, 1, 1, 1), "payload_type"),
        ((96, 0, 65536, 1, 1), "seq"),
        ((96, 0, 1, 2**32, 1), "ts"),
        ((96, 0, 1, 1, -1), "ssrc"),
    ],
)
def test_out_of_range_fields_rejected(args, field):
    with pytest.raises(RtpHeaderError, match=field):
        RtpHeaderWriter(IDS).build(*args, b"")


def test_audio_level_range():
    with pytest.raises(RtpHeaderError, match="audio_level"):
        RtpHeaderWriter(IDS).build(96, 0, 1, 1, 1, b"", audio_level=(False, 128))


@pytest.mark.parametrize(
    "kwargs",
    [{"mid": 0}, {"mid": 15}, {"abs_send_time": 16}, {"mid": 1, "audio_level": 1}],
)
def test_bad_extension_ids(kwargs):
    with pytest.raises(RtpHeaderError):
        ExtensionIds(**kwargs)


def test_extension_ids_from_uris():
    ids = ExtensionIds.from_uris({MID_URI: 9, ABS_SEND_TIME_URI: 3, "urn:other": 5})
    assert ids == ExtensionIds(mid=9, abs_send_time=3)


def test_abs_send_time_from_seconds():
    assert abs_send_time_from_seconds(1.0) == 1 << 18
    assert abs_send_time_from_seconds(64.0) == 0  # 6 bits of seconds: wraps every 64 s
    assert abs_send_time_from_seconds(0.5) == 1 << 17


def test_wrap_rtx_round_trip_with_aiortc():
    original = RtpPacket(
        payload_type=96, sequence_number=65535, timestamp=5, ssrc=7, payload=b"media"
    )
    rtx = RtpPacket(
        payload_type=97, sequence_number=3, timestamp=5, ssrc=8, payload=wrap_rtx(65535, b"media")
    )
    restored = unwrap_rtx(rtx, payload_type=96, ssrc=7)
    assert restored.sequence_number == original.sequence_number
    assert restored.payload == original.payload
    with pytest.raises(RtpHeaderError, match="original_seq"):
        wrap_rtx(65536, b"")


@settings(max_examples=300, deadline=None)
@given(
    pt=st.integers(0, 127),
    marker=st.booleans(),
    seq=st.integers(0, 0xFFFF),
    ts=st.integers(0, 0xFFFFFFFF),
    ssrc=st.integers(0, 0xFFFFFFFF),
    payload=st.binary(max_size=64),
    mid=st.none()
    | st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=16),
    abs_time=st.none() | st.integers(0, 0xFFFFFF),
    level=st.none() | st.tuples(st.booleans(), st.integers(0, 127)),
    id_choice=st.permutations([1, 2, 3, 14]),
)
def test_property_round_trip(pt, marker, seq, ts, ssrc, payload, mid, abs_time, level, id_choice):
    ids = ExtensionIds(mid=id_choice[0], abs_send_time=id_choice[1], audio_level=id_choice[2])
    data = RtpHeaderWriter(ids).build(
        pt, marker, seq, ts, ssrc, payload, mid=mid, abs_send_time=abs_time, audio_level=level
    )
    packet = RtpPacket.parse(data, _aiortc_map(ids))
    assert (packet.payload_type, packet.marker, packet.sequence_number) == (pt, int(marker), seq)
    assert (packet.timestamp, packet.ssrc, packet.payload) == (ts, ssrc, payload)
    assert packet.extensions.mid == mid
    assert packet.extensions.abs_send_time == abs_time
    assert packet.extensions.audio_level == level
    has_ext = mid is not None or abs_time is not None or level is not None
    assert bool(data[0] & 0x10) == has_ext
    if has_ext:
        ext_words = int.from_bytes(data[14:16], "big")
        assert data[12:14] == b"\xbe\xde"
        assert len(data) == 16 + 4 * ext_words + len(payload)


def test_build_rtx_packet_round_trip_with_aiortc():
    ext_map = _aiortc_map(IDS)
    writer = RtpHeaderWriter(IDS)
    original = writer.build(96, True, 65535, 4242, 0xAAAA, b"frame", mid="v1", abs_send_time=77)
    assert original[rtp_payload_offset(original) :] == b"frame"
    rtx_data = build_rtx_packet(original, rtx_payload_type=97, rtx_seq=12, rtx_ssrc=0xBBBB)
    rtx = RtpPacket.parse(rtx_data, ext_map)
    assert (rtx.payload_type, rtx.sequence_number, rtx.ssrc) == (97, 12, 0xBBBB)
    assert (rtx.marker, rtx.timestamp) == (1, 4242)
    assert rtx.extensions.mid == "v1"
    restored = unwrap_rtx(rtx, payload_type=96, ssrc=0xAAAA)
    assert restored.sequence_number == 65535
    assert restored.payload == b"frame"
    plain = RtpHeaderWriter(ExtensionIds()).build(8, False, 3, 4, 5, b"pcm")
    restored = unwrap_rtx(RtpPacket.parse(build_rtx_packet(plain, 101, 1, 2)), 8, 5)
    assert (restored.sequence_number, restored.payload) == (3, b"pcm")


@pytest.mark.parametrize("bad", [b"", b"\x80" * 11, b"\x40" + bytes(11), b"\x90" + bytes(13)])
def test_rtp_payload_offset_rejects_garbage(bad):
    with pytest.raises(RtpHeaderError):
        rtp_payload_offset(bad)
