"""aiortc peer-connection helpers shared by every target adapter.

All peers use ``RTCConfiguration(iceServers=[], bundlePolicy=MAX_BUNDLE)`` (aiortc's
default ICE server is a public STUN server) and apply a remote SDP only after :func:`loadtest.safety.filter_sdp_candidates`
has removed every candidate outside the run's allowed networks.
"""

from __future__ import annotations

from collections.abc import Sequence

from aiortc import (
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.sdp import candidate_from_sdp

from loadtest.aiortc_seams import on_keyframe_request
from loadtest.safety import Network, candidate_allowed, filter_sdp_candidates
from loadtest.tracks import PacketAudioTrack, PacketVideoTrack


def new_peer_connection() -> RTCPeerConnection:
    # max-bundle: with aiortc's default (balanced) a second audio m-line of the same
    # connection can stay on its own, never-connected transport and receive nothing.
    return RTCPeerConnection(RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))


async def apply_remote(pc: RTCPeerConnection, sdp: str, kind: str, networks: Sequence[Network]) -> None:
    """setRemoteDescription with only the allowed candidates (raises UnsafeTargetError if none)."""
    await pc.setRemoteDescription(RTCSessionDescription(sdp=filter_sdp_candidates(sdp, networks), type=kind))


async def add_remote_candidate(
    pc: RTCPeerConnection, line: str, sdp_mid: str | None, sdp_mline_index: int | None,
    networks: Sequence[Network],
) -> bool:
    """A trickled remote candidate; refused (False) when outside the allowed networks."""
    if not candidate_allowed(line, networks):
        return False
    candidate = candidate_from_sdp(line.removeprefix("a=").removeprefix("candidate:"))
    candidate.sdpMid = sdp_mid
    candidate.sdpMLineIndex = sdp_mline_index
    await pc.addIceCandidate(candidate)
    return True


async def local_offer(pc: RTCPeerConnection) -> str:
    """Create and set an offer; aiortc gathers every candidate before returning."""
    await pc.setLocalDescription(await pc.createOffer())
    return pc.localDescription.sdp


async def local_answer(pc: RTCPeerConnection) -> str:
    await pc.setLocalDescription(await pc.createAnswer())
    return pc.localDescription.sdp


def add_publish_tracks(
    pc: RTCPeerConnection, video: PacketVideoTrack, audio: PacketAudioTrack | None
) -> list[tuple[str, RTCRtpSender]]:
    """Add send-only transceivers (video first) with VP8 preferred; returns (kind, sender)."""
    senders: list[tuple[str, RTCRtpSender]] = []
    transceiver = pc.addTransceiver(video, direction="sendonly")
    caps = RTCRtpSender.getCapabilities("video")
    vp8 = [c for c in caps.codecs if c.mimeType.lower() in ("video/vp8", "video/rtx")]
    transceiver.setCodecPreferences(vp8)
    # PLI/FIR from the server: count it and restart the clip at its keyframe.
    on_keyframe_request(transceiver.sender, video.request_keyframe)
    senders.append(("video", transceiver.sender))
    if audio is not None:
        senders.append(("audio", pc.addTransceiver(audio, direction="sendonly").sender))
    return senders
