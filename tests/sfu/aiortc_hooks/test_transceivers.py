"""The aiortc internals sfu/aiortc_hooks/transceivers.py relies on are still there."""

from __future__ import annotations

import pytest
from aiortc import RTCPeerConnection

from sfu.aiortc_hooks import HookError, negotiated_codecs, start_pending_transceivers


async def test_negotiation_state_is_where_the_hooks_look() -> None:
    pc = RTCPeerConnection()
    try:
        transceiver = pc.addTransceiver("video")
        assert negotiated_codecs(transceiver) == []
        assert callable(pc._RTCPeerConnection__localRtp) and callable(pc._RTCPeerConnection__remoteRtp)
        await start_pending_transceivers(pc)  # nothing connected: nothing started
        del transceiver._codecs
        with pytest.raises(HookError, match="_codecs"):
            negotiated_codecs(transceiver)
    finally:
        await pc.close()
