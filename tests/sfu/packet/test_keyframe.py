import fractions

import av
import numpy as np
import pytest
from aiortc.codecs import get_encoder
from aiortc.codecs.vpx import VpxPayloadDescriptor
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from sfu.packet.keyframe import (
    UnsupportedCodecError,
    frame_start_checker,
    is_frame_start,
    is_keyframe,
    keyframe_checker,
)


def _frames(n, width=320, height=240):
    rng = np.random.default_rng(7)
    base = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)  # noise: big keyframes
    for i in range(n):
        frame = av.VideoFrame.from_ndarray(np.roll(base, i * 4, axis=1), format="rgb24")
        frame.pts = i * 3000
        frame.time_base = fractions.Fraction(1, 90000)
        yield frame


def _encode(mime):
    """Payloads per frame: frame 0 and 3 forced keyframes, 1, 2 and 4 inter frames."""
    encoder = get_encoder(RTCRtpCodecParameters(mimeType=mime, clockRate=90000, payloadType=96))
    out = []
    for i, frame in enumerate(_frames(5)):
        payloads, _ = encoder.encode(frame, force_keyframe=i in (0, 3))
        out.append(payloads)
    return out


@pytest.fixture(scope="module")
def vp8_frames():
    return _encode("video/VP8")


@pytest.fixture(scope="module")
def h264_frames():
    return _encode("video/H264")


@pytest.mark.parametrize("fixture", ["vp8_frames", "h264_frames"])
def test_real_encoder_keyframes_detected(fixture, request):
    codec = "vp8" if fixture == "vp8_frames" else "h264"
    frames = request.getfixturevalue(fixture)
    for index in (0, 3):
        payloads = frames[index]
        assert len(payloads) > 1, "a noise keyframe spans several packets"
        assert is_keyframe(codec, payloads[0])
        assert is_frame_start(codec, payloads[0])
        later_starts = [p for p in payloads[1:] if is_frame_start(codec, p)]
        if codec == "vp8":
            assert later_starts == []
        else:
            # H.264: the STAP-A with SPS/PPS, then the IDR slice's first FU-A fragment, which
            # is a picture start too (first_mb_in_slice == 0); no other fragment is.
            assert len(later_starts) == 1
            assert later_starts[0][0] & 0x1F == 28 and later_starts[0][1] & 0x1F == 5


@pytest.mark.parametrize("fixture", ["vp8_frames", "h264_frames"])
def test_real_encoder_inter_frames_not_keyframes(fixture, request):
    codec = "vp8" if fixture == "vp8_frames" else "h264"
    frames = request.getfixturevalue(fixture)
    for index in (1, 2, 4):
        payloads = frames[index]
        assert not any(is_keyframe(codec, p) for p in payloads)
        assert is_frame_start(codec, payloads[0])
        assert not any(is_frame_start(codec, p) for p in payloads[1:])


def test_vp8_keyframe_continuation_packets_not_keyframes(vp8_frames):
    assert not any(is_keyframe("vp8", p) for p in vp8_frames[0][1:])


def test_h264_keyframe_contains_sps_or_idr(h264_frames):
    # aiortc sends SPS+PPS in a STAP-A, then the IDR slice in FU-A fragments.
    first = h264_frames[0][0]
    assert first[0] & 0x1F in (7, 24, 28)
    fu_starts = [p for p in h264_frames[0] if p[0] & 0x1F == 28 and p[1] & 0x80]
    assert all(is_keyframe("h264", p) for p in fu_starts)


# --- VP8 descriptor variants (built with aiortc's own descriptor writer) -------------------

VP8_KEY_HEADER = bytes([0x10, 0x02, 0x00, 0x9D, 0x01, 0x2A])  # P bit 0
VP8_INTER_HEADER = bytes([0x31, 0x02, 0x00])  # P bit 1


@pytest.mark.parametrize(
    "descriptor",
    [
        VpxPayloadDescriptor(partition_start=1, partition_id=0),
        VpxPayloadDescriptor(partition_start=1, partition_id=0, picture_id=300),
        VpxPayloadDescriptor(partition_start=1, partition_id=0, picture_id=5, tl0picidx=9),
        VpxPayloadDescriptor(partition_start=1, partition_id=0, tid=(1, 1), keyidx=3),
        VpxPayloadDescriptor(
            partition_start=1, partition_id=0, picture_id=32767, tl0picidx=1, tid=(2, 0)
        ),
    ],
)
def test_vp8_descriptor_variants(descriptor):
    head = bytes(descriptor)
    assert is_keyframe("vp8", head + VP8_KEY_HEADER)
    assert is_frame_start("vp8", head + VP8_KEY_HEADER)
    assert not is_keyframe("vp8", head + VP8_INTER_HEADER)
    assert is_frame_start("vp8", head + VP8_INTER_HEADER)


def test_vp8_seven_bit_picture_id():
    # X=1, S=1 | I=1 | M=0, 7-bit PictureID 0x12 | payload header with P=0
    payload = bytes([0x90, 0x80, 0x12]) + VP8_KEY_HEADER
    assert is_keyframe("vp8", payload)
    # Misreading it as 15-bit would land on 0x10 of the header: still P=0; use P=1 to tell.
    assert not is_keyframe("vp8", bytes([0x90, 0x80, 0x12]) + VP8_INTER_HEADER)


def test_vp8_not_start_or_other_partition():
    assert not is_keyframe("vp8", bytes([0x00]) + VP8_KEY_HEADER)  # S=0
    assert not is_keyframe("vp8", bytes([0x11]) + VP8_KEY_HEADER)  # PID=1
    assert not is_frame_start("vp8", bytes([0x00]) + VP8_KEY_HEADER)
    assert not is_frame_start("vp8", bytes([0x11]) + VP8_KEY_HEADER)


@pytest.mark.parametrize("payload", [b"", b"\x90", b"\x90\x80", b"\x90\x80\x80", b"\x10"])
def test_vp8_truncated_is_not_keyframe(payload):
    assert not is_keyframe("vp8", payload)


# --- H.264 -----------------------------------------------------------------------------------


def _stap_a(*nals):
    out = bytearray([0x78])
    for nal in nals:
        out += len(nal).to_bytes(2, "big") + nal
    return bytes(out)


SPS = bytes([0x67, 0x42, 0xC0, 0x1F])
PPS = bytes([0x68, 0xCE, 0x3C, 0x80])
IDR = bytes([0x65, 0x88, 0x84])  # first_mb_in_slice = 0
NON_IDR = bytes([0x41, 0x9A, 0x02])
NON_IDR_SECOND_SLICE = bytes([0x41, 0x40, 0x02])  # first_mb_in_slice != 0


@pytest.mark.parametrize(
    ("payload", "key", "start"),
    [
        (SPS, True, True),
        (IDR, True, True),
        (PPS, False, True),
        (NON_IDR, False, True),
        (NON_IDR_SECOND_SLICE, False, False),
        (_stap_a(SPS, PPS), True, True),
        (_stap_a(PPS, IDR), True, True),
        (_stap_a(bytes([0x06, 0x05]), NON_IDR), False, True),
        (bytes([0x7C, 0x85, 0x88]), True, True),  # FU-A start of IDR
        (bytes([0x7C, 0x05, 0x11]), False, False),  # FU-A middle of IDR
        (bytes([0x7C, 0x45, 0x11]), False, False),  # FU-A end of IDR
        (bytes([0x5C, 0x81, 0x9A]), False, True),  # FU-A start of non-IDR
        (bytes([0x5C, 0x81, 0x40]), False, False),  # FU-A start of a non-first slice
        (b"", False, False),
        (bytes([0x7C]), False, False),  # truncated FU-A
        (bytes([0x78, 0x00]), False, True),  # truncated STAP-A
        (bytes([0x78, 0x00, 0x09, 0x67]), False, True),  # STAP-A size past the end
    ],
)
def test_h264_cases(payload, key, start):
    assert is_keyframe("h264", payload) is key
    assert is_frame_start("h264", payload) is start


# --- VP9 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "key", "start"),
    [
        (bytes([0x08, 0x00]), True, True),  # B=1, P=0
        (bytes([0x48, 0x00]), False, True),  # P=1
        (bytes([0x00, 0x00]), False, False),  # B=0
        (bytes([0x88, 0x85, 0x01]), True, True),  # I, 15-bit picture id, B
        (bytes([0x98, 0x7F, 0x00, 0x01]), True, True),  # I (7-bit), L: SID 0
        (bytes([0x98, 0x7F, 0x02, 0x01]), False, True),  # L: SID 1
        (bytes([0x98]), False, True),  # truncated
        (b"", False, False),
    ],
)
def test_vp9_cases(payload, key, start):
    assert is_keyframe("vp9", payload) is key
    assert is_frame_start("vp9", payload) is start


# --- audio and names ------------------------------------------------------------------------


@pytest.mark.parametrize("codec", ["opus", "pcmu", "pcma", "g722"])
def test_audio_always_keyframe(codec):
    assert is_keyframe(codec, b"\x01\x02")
    assert is_frame_start(codec, b"")


def test_unknown_codec_names_rule():
    with pytest.raises(UnsupportedCodecError, match="lowercase MIME subtype"):
        is_keyframe("VP8", b"\x10")
    with pytest.raises(UnsupportedCodecError):
        is_frame_start("av1", b"\x10")
    with pytest.raises(UnsupportedCodecError):
        keyframe_checker("theora")


def test_checkers_match_functions(vp8_frames):
    check_key = keyframe_checker("vp8")
    check_start = frame_start_checker("vp8")
    for payload in vp8_frames[0] + vp8_frames[1]:
        assert check_key(payload) == is_keyframe("vp8", payload)
        assert check_start(payload) == is_frame_start("vp8", payload)
