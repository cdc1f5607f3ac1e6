"""Negotiation state aiortc keeps private: a transceiver's codecs, and starting what it missed."""

from __future__ import annotations

from aiortc import RTCPeerConnection
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtcrtptransceiver import RTCRtpTransceiver

from sfu.aiortc_hooks._private import private


def negotiated_codecs(transceiver: RTCRtpTransceiver) -> list[RTCRtpCodecParameters]:
    """The codecs aiortc settled on for a transceiver after offer/answer."""
    codecs: list[RTCRtpCodecParameters] = private(transceiver, "", "_codecs")
    return list(codecs)


async def start_pending_transceivers(pc: RTCPeerConnection) -> None:
    """Start senders/receivers that aiortc's connect pass missed.

    aiortc starts a transceiver's sender/receiver in ``RTCPeerConnection.__connect``,
    which runs once per description. A renegotiation that completes while an earlier
    connect is still establishing DTLS is skipped for its new transceivers (they are
    checked before their direction is final), leaving a sender that never sends.
    Calling this once the connection is up starts them; send()/receive() are no-ops
    for transceivers already started.
    """
    local_rtp = private(pc, "_RTCPeerConnection__", "localRtp")
    remote_rtp = private(pc, "_RTCPeerConnection__", "remoteRtp")
    for transceiver in pc.getTransceivers():
        if transceiver.receiver.transport.state != "connected":
            continue
        direction = transceiver.currentDirection
        if direction in ("sendonly", "sendrecv"):
            await transceiver.sender.send(local_rtp(transceiver))
        if direction in ("recvonly", "sendrecv"):
            await transceiver.receiver.receive(remote_rtp(transceiver))
