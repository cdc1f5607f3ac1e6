"""The aiortc internals sfu/aiortc_hooks/frames.py relies on (jitter buffer, codecs) are still there."""

from __future__ import annotations

import inspect
from fractions import Fraction

import av
import numpy as np
from aiortc.jitterbuffer import JitterBuffer
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from sfu.aiortc_hooks import FrameAssembler, VideoDecoder, VideoEncoder
from sfu.packet import ReceivedRtp

VP8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96)


def test_jitter_buffer_assembles_frames_from_the_private_data_attribute() -> None:
    source = inspect.getsource(JitterBuffer._remove_frame)
    assert "x._data for x in packets" in source, "aiortc's JitterBuffer no longer reads packet._data"
    assert list(inspect.signature(JitterBuffer.add).parameters) == ["self", "packet"]


def _picture(index: int) -> av.VideoFrame:
    pixels = np.full((240, 320, 3), index * 20 % 255, dtype=np.uint8)
    frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
    frame.pts = index * 3000
    frame.time_base = Fraction(1, 90000)
    return frame


def test_encode_assemble_decode_round_trip() -> None:
    encoder, decoder, assembler = VideoEncoder(VP8), VideoDecoder(VP8), FrameAssembler(VP8)
    seq, pictures = 100, []
    for index in range(4):
        payloads, timestamp = encoder.encode(_picture(index), 300_000, force_keyframe=index == 0)
        assert payloads
        for i, payload in enumerate(payloads):
            packet = ReceivedRtp(96, int(i == len(payloads) - 1), seq, timestamp, 1, payload)
            seq += 1
            pli, frame = assembler.add(packet)
            assert not pli
            if frame is not None:  # completed by the next frame's first packet
                pictures += decoder.decode(frame)
    assert len(pictures) == 3
    assert all((p.width, p.height) == (320, 240) for p in pictures)


def test_the_encoder_honours_a_rendition_bitrate_below_aiortcs_floor() -> None:
    # aiortc clamps target_bitrate to 250 kbit/s for VP8; a 240x180 rendition for a narrow
    # link is encoded at 100 kbit/s (issue 15), through the private value behind the property.
    rng = np.random.default_rng(3)
    encoder = VideoEncoder(VP8)
    sent = 0
    for index in range(90):  # 3 s at 30 fps of a moving picture with some grain (a webcam)
        pixels = np.full((180, 240, 3), 128, dtype=np.int16)
        pixels[:, (index * 4) % 240 :] = 40
        pixels += rng.integers(-16, 16, (180, 240, 3), dtype=np.int16)
        frame = av.VideoFrame.from_ndarray(np.clip(pixels, 0, 255).astype(np.uint8), format="rgb24")
        frame.pts, frame.time_base = index * 3000, Fraction(1, 90000)
        payloads, _ = encoder.encode(frame, 100_000, force_keyframe=index == 0)
        sent += sum(len(p) for p in payloads)
    assert sent * 8 / 3.0 < 180_000, f"{sent * 8 / 3.0:.0f} bit/s for a 100 kbit/s target"
