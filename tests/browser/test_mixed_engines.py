"""A Chromium participant and a Firefox participant in one room see and hear each other.

What differs between the engines is exactly what the server forwards untouched (payload types,
header extension ids, RTCP feedback) or rewrites (SSRCs, sequence numbers): each side decodes
the other's video and receives its audio, at the codec the two negotiated with the server.
"""

from __future__ import annotations

import pytest

from tests.browser.conftest import RunningServer
from tests.browser.engine import BrowserPage
from tests.browser.engine_chromium import ChromiumEngine
from tests.browser.engine_firefox import FirefoxEngine
from tests.browser.pages import open_and_join, wait_media_flowing, wait_visible_picture

pytestmark = [pytest.mark.browser, pytest.mark.firefox]

# The codecs of what a page receives: mimeType per kind, from the inbound-rtp's codec stats.
RECEIVED_CODECS_JS = """
async () => {
  const report = await window.consult.client.pcs.subscribe.getStats();
  const codecs = {};
  report.forEach((s) => { if (s.type === 'codec') codecs[s.id] = s.mimeType; });
  const out = {};
  report.forEach((s) => { if (s.type === 'inbound-rtp' && s.codecId) out[s.kind] = codecs[s.codecId] || null; });
  return out;
}
"""


async def test_chromium_and_firefox_in_one_room(server: RunningServer, chromium: ChromiumEngine, firefox: FirefoxEngine) -> None:
    pages: dict[str, BrowserPage] = {
        "chromium": await chromium.new_page(),
        "firefox": await firefox.new_page(),
    }
    await open_and_join(pages["chromium"], server.join_url("mixed-engines", "dr", "Dr Chromium", role="practitioner"))
    await open_and_join(pages["firefox"], server.join_url("mixed-engines", "pat", "Pat Firefox"))
    for engine, page in pages.items():
        other = "Pat Firefox" if engine == "chromium" else "Dr Chromium"
        await wait_media_flowing(page)  # decoded frames and audio packets, both still rising
        await wait_visible_picture(page)
        assert other in await page.text(".tile-camera:not(.tile-self) .tile-name")
        codecs = await page.evaluate(RECEIVED_CODECS_JS)
        assert codecs.get("audio", "").lower() == "audio/opus", (engine, codecs)
        assert codecs.get("video", "").lower() in ("video/vp8", "video/h264", "video/vp9"), (engine, codecs)
        assert not page.errors, (engine, page.errors)
