"""Decoding and encoding for the rendition pipeline, with aiortc's codecs.

aiortc's decoders take whole encoded frames (``aiortc.jitterbuffer.JitterFrame``), which its
``JitterBuffer`` assembles from RTP packets whose private ``_data`` attribute holds the
depayloaded bytes (aiortc's receiver sets it before ``add``). :class:`FrameAssembler` does
the same with our :class:`~sfu.packet.ReceivedRtp`. The encoders' ``target_bitrate`` is a
property of the VP8 and H.264 encoders, not of aiortc's ``Encoder`` base class.
tests/sfu/aiortc_hooks/test_frames.py checks all of it against the pinned aiortc.
"""

from __future__ import annotations

import typing

import av
from aiortc.codecs import depayload, get_decoder, get_encoder
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RtpPacket

from sfu.aiortc_hooks._private import HookError
from sfu.packet import ReceivedRtp

#: A whole encoded frame; ``timestamp`` may be rewritten (unwrapped) by its owner.
EncodedFrame = JitterFrame


class FrameAssembler:
    """Whole encoded frames from the RTP packets of one video stream (aiortc's jitter buffer)."""

    def __init__(self, codec: RTCRtpCodecParameters, capacity: int = 128) -> None:
        self._codec = codec
        self._buffer = JitterBuffer(capacity=capacity, is_video=True)

    def add(self, received: ReceivedRtp) -> tuple[bool, EncodedFrame | None]:
        """Add one packet: (a keyframe is needed: packets were lost, the frame completed by it).

        Raises ``ValueError`` for a payload the codec's depayloader cannot read.
        """
        packet = RtpPacket(
            payload_type=received.payload_type,
            marker=received.marker,
            sequence_number=received.sequence_number,
            timestamp=received.timestamp,
            ssrc=received.ssrc,
            payload=received.payload,
        )
        packet._data = depayload(self._codec, received.payload) if received.payload else b""  # type: ignore[attr-defined]
        return self._buffer.add(packet)


class VideoDecoder:
    """aiortc's decoder for a codec: encoded frames in, pictures out (call from one thread)."""

    def __init__(self, codec: RTCRtpCodecParameters) -> None:
        self._decoder = get_decoder(codec)

    def decode(self, frame: EncodedFrame) -> list[av.VideoFrame]:
        """Raises ``av.FFmpegError`` on a frame that cannot be decoded (lost references)."""
        return [typing.cast(av.VideoFrame, picture) for picture in self._decoder.decode(frame)]


class VideoEncoder:
    """aiortc's encoder for a codec, at a target bitrate (call from one thread)."""

    def __init__(self, codec: RTCRtpCodecParameters) -> None:
        self._encoder = get_encoder(codec)
        name = type(self._encoder).__name__
        if not isinstance(type(self._encoder).__dict__.get("target_bitrate"), property):
            raise HookError(f"{name}.target_bitrate is gone; check sfu/aiortc_hooks/frames.py")
        # The property clamps to aiortc's floor (VP8: 250 kbit/s, H.264: 500 kbit/s), made for
        # a camera's full picture; a small rendition for a narrow link (issue 15) needs less, so
        # the value behind the property is written directly (the encoder reads it per frame).
        self._bitrate_attr = f"_{name}__target_bitrate"
        if self._bitrate_attr not in vars(self._encoder):
            raise HookError(f"{name} keeps no {self._bitrate_attr}; check sfu/aiortc_hooks/frames.py")

    def encode(self, frame: av.VideoFrame, bitrate: int, force_keyframe: bool) -> tuple[list[bytes], int]:
        """RTP payloads of one encoded picture and its RTP timestamp, at ``bitrate`` (unclamped)."""
        setattr(self._encoder, self._bitrate_attr, bitrate)
        return self._encoder.encode(frame, force_keyframe)
