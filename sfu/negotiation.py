"""Codec choice for subscriber legs, as pure functions (like mediasoup's ortc.ts).

A forwarded packet can only be decoded by a subscriber that negotiated the very codec
the publisher sends, so each subscriber m-line offers exactly that codec (plus its RTX
companion for video). Where the subscriber cannot take it, the offer has no codec in
common and the leg stays inactive (reported by the session).
"""

from __future__ import annotations

from collections.abc import Mapping

from aiortc.rtcrtpparameters import RTCRtpCodecCapability, RTCRtpCodecParameters

from sfu.errors import Unsupported


def _h264_profile(parameters: Mapping[str, object]) -> tuple[str, str]:
    profile = str(parameters.get("profile-level-id", "42e01f")).lower()
    mode = str(parameters.get("packetization-mode", "0"))
    # profile_idc + constraint flags decide decodability; the level is negotiable
    return profile[:4], mode


def codec_preferences(
    producer_codec: RTCRtpCodecParameters, capabilities: list[RTCRtpCodecCapability]
) -> list[RTCRtpCodecCapability]:
    """The capabilities to offer a subscriber for a producer using ``producer_codec``."""
    mime = producer_codec.mimeType.lower()
    matches = [c for c in capabilities if c.mimeType.lower() == mime]
    if mime == "video/h264" and matches:
        wanted = _h264_profile(producer_codec.parameters)
        exact = [c for c in matches if _h264_profile(c.parameters) == wanted]
        same_mode = [c for c in matches if _h264_profile(c.parameters)[1] == wanted[1]]
        matches = (exact or same_mode or matches)[:1]
    else:
        matches = matches[:1]
    if not matches:
        raise Unsupported(f"codec {producer_codec.mimeType} cannot be forwarded: the server does not support it")
    rtx = [c for c in capabilities if c.mimeType.lower() == "video/rtx"]
    return matches + rtx[:1] if mime.startswith("video/") else matches
