"""The effect inside the rendition pipeline's codec path: VP8 decode -> effect -> VP8 encode -> decode.

What a subscriber decodes must show the processed background and the person as sent.
Uses aiortc's own Vp8Encoder/Vp8Decoder (the ones the receiver and sender use).
"""

from __future__ import annotations

import av
import numpy as np
from aiortc.codecs.vpx import Vp8Decoder, Vp8Encoder, vp8_depayload
from aiortc.jitterbuffer import JitterFrame

from effects.spec import EffectSpec
from effects.transform import BackgroundEffect
from tests.effects.conftest import FACE, FLAG, box, laplacian_variance, photo_bgr, video_frame


def vp8_round(encoder: Vp8Encoder, decoder: Vp8Decoder, frame: av.VideoFrame, first: bool) -> av.VideoFrame:
    payloads, timestamp = encoder.encode(frame, force_keyframe=first)
    decoded = decoder.decode(JitterFrame(b"".join(vp8_depayload(p) for p in payloads), timestamp))
    assert len(decoded) == 1 and isinstance(decoded[0], av.VideoFrame)
    return decoded[0]


def test_subscribers_decode_the_blurred_background_and_the_person(model_path):
    bgr = photo_bgr(640, 480)
    publisher_encoder, server_decoder = Vp8Encoder(), Vp8Decoder()
    server_encoder, subscriber_decoder = Vp8Encoder(), Vp8Decoder()
    for encoder in (publisher_encoder, server_encoder):
        encoder.target_bitrate = 1_500_000
    effect = BackgroundEffect(EffectSpec.parse("blur", "strong"), None, model_path=model_path)
    try:
        for index in range(15):
            received = vp8_round(publisher_encoder, server_decoder, video_frame(bgr, index), index == 0)
            processed = effect.apply(received)
            seen = vp8_round(server_encoder, subscriber_decoder, processed, index == 0)
    finally:
        effect.close()
    sent, shown = received.to_ndarray(format="bgr24"), seen.to_ndarray(format="bgr24")
    assert (seen.width, seen.height) == (640, 480)
    assert laplacian_variance(box(shown, FLAG)) < 0.1 * laplacian_variance(box(sent, FLAG))
    face_error = np.abs(box(shown, FACE).astype(np.int16) - box(sent, FACE).astype(np.int16))
    assert float(face_error.mean()) < 6.0  # one more VP8 generation, nothing else
    assert effect.stats().frames == 15
