"""OpusStreamDecoder: Opus RTP payloads -> 16 kHz mono s16, gaps filled or reported."""

from __future__ import annotations

import numpy as np

from captions.audio import OpusStreamDecoder
from tests.captions.speech import opus_payloads


def sine_clip() -> list[bytes]:
    t = np.arange(48000) / 48000
    samples = (np.sin(2 * np.pi * 440 * t) * 10000).astype(np.int16)
    return opus_payloads(samples, lead_s=0.0, tail_s=0.0).payloads


def test_decodes_to_16k_mono_at_the_right_length() -> None:
    decoder = OpusStreamDecoder()
    pcm = b"".join(decoder.decode(p, 1000 + i * 960).pcm for i, p in enumerate(sine_clip()))
    samples = np.frombuffer(pcm, np.int16)
    assert abs(len(samples) - 16000) <= 400  # 1 s (+ the encoder's padding frame)
    assert np.abs(samples[4000:12000]).max() > 5000
    assert decoder.corrupt_packets == 0


def test_small_gap_is_filled_large_gap_reported_corrupt_counted() -> None:
    decoder = OpusStreamDecoder()
    packets = sine_clip()
    first = decoder.decode(packets[0], 0)
    second = decoder.decode(packets[1], 960 * 3)  # two packets lost: 40 ms of silence added
    assert second.break_s == 0.0
    assert len(second.pcm) - len(first.pcm) >= 2 * 640 - 64
    third = decoder.decode(packets[2], 960 * 3 + 48000)  # one second later (DTX, mute)
    assert abs(third.break_s - (48000 - 960) / 48000) < 0.001
    decoder.decode(b"\xff\xff\xff", 960 * 60)
    assert decoder.corrupt_packets == 1
    assert decoder.packets == 4
