"""A browser and a Python aiortc peer (tests/support/peer.py) in one room see and hear each other."""

from __future__ import annotations

import asyncio

import aioice.ice
import av
import numpy as np
import pytest

from tests.browser.conftest import RunningServer
from tests.browser.engine import Engine
from tests.browser.pages import open_and_join, wait_media_flowing, wait_visible_picture
from tests.support.media import PatternVideoTrack, ToneAudioTrack
from tests.support.peer import TestPeer

pytestmark = pytest.mark.browser


@pytest.fixture
def loopback_ice(monkeypatch: pytest.MonkeyPatch) -> None:
    """aioice leaves 127.0.0.1 out of its host candidates; our peer lives on loopback."""
    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda use_ipv4=True, use_ipv6=True: ["127.0.0.1"])


async def test_browser_and_aiortc_peer_see_each_other(server: RunningServer, browser: Engine, loopback_ice: None) -> None:
    room = f"mixed-1-{browser.name}"
    peer = TestPeer(server.ws_url, server.token(room, "robot", "Test Robot"), name="robot")
    try:
        joined = await peer.connect()
        assert joined["type"] == "joined", joined
        assert joined["ice_servers"] == []  # no public STUN handed out
        await peer.publish([(PatternVideoTrack(640, 480, fps=15), "camera"), (ToneAudioTrack(), "microphone")])

        page = await browser.new_page()
        await open_and_join(page, server.join_url(room, "carol", "Carol"))

        # The browser decodes the robot's test pattern (bright bars, never black) and gets its tone.
        await wait_media_flowing(page)
        luma = await wait_visible_picture(page)
        assert (luma["width"], luma["height"]) == (640, 480), luma
        assert "Test Robot" in await page.text(".tile-camera:not(.tile-self) .tile-name")

        # The robot decodes the browser's fake camera and receives its audio.
        carol_id = await page.evaluate("() => window.consult.client.self.participant_id")
        video = await peer.wait_frames(carol_id, "video", 20, timeout=30)
        await peer.wait_frames(carol_id, "audio", 50, timeout=30)
        # Its picture is not black (polled: an early frame may still be concealment grey/black).
        brightest = 0.0
        for _ in range(50):
            frame = video.last_frame
            if isinstance(frame, av.VideoFrame):
                pixels = frame.to_ndarray(format="gray")
                brightest = max(brightest, float(np.mean(pixels)))
                if pixels.max() > 60 and brightest > 15:
                    break
            await asyncio.sleep(0.2)
        assert brightest > 15, f"the browser's video arrived black (mean luma {brightest:.1f})"
    finally:
        await peer.close()
