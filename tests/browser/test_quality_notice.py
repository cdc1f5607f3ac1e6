"""The room page tells a patient on a weak link what the server did (issue 15's `quality`):
a notice on the tile of each video shown smaller or paused, cleared when it is over, and a toast
when its own uplink is limited. Chromium, with a scripted server (see test_page_logic.py)."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, Page

from tests.browser.conftest import RunningServer
from tests.browser.engine_chromium import ChromiumEngine
from tests.browser.test_page_logic import ScriptedServer, join_scripted

pytestmark = pytest.mark.browser


@pytest.fixture
def browser(chromium: ChromiumEngine) -> Browser:
    return chromium.browser


async def notice_of(page: Page, participant_id: str) -> str:
    text = await page.eval_on_selector(
        f".tile[data-participant='{participant_id}']", "el => el.classList.contains('has-notice') ? el.textContent : ''"
    )
    return str(text)


async def test_quality_notices_on_the_tiles_concerned(server: RunningServer, browser: Browser) -> None:
    joined = {
        "type": "joined", "participant_id": "PA1", "room": "scripted", "identity": "pat", "name": "Pat", "role": "client",
        "ice_servers": [], "settings": {},
        "participants": [{"participant_id": "PA2", "identity": "dr", "name": "Dr Who", "role": "practitioner"}],
        "producers": [
            {"producer_id": "TR_cam", "participant_id": "PA2", "kind": "video", "source": "camera", "muted": False},
        ],
    }
    script = ScriptedServer([joined])
    page = await join_scripted(browser, server, script)
    await page.wait_for_selector("body[data-view='call']", timeout=10000)
    await page.wait_for_selector(".tile[data-participant='PA2']", timeout=5000)
    assert "Poor connection" not in await notice_of(page, "PA2")

    script.push({"type": "quality", "direction": "receive", "state": "reduced", "estimate_kbps": 280,
                 "reduced": ["TR_cam"], "paused": []})
    await page.wait_for_function(
        "() => document.querySelector(\".tile[data-participant='PA2']\").textContent.includes('Poor connection — lower resolution')",
        timeout=5000,
    )
    script.push({"type": "quality", "direction": "receive", "state": "paused", "estimate_kbps": 90,
                 "reduced": [], "paused": ["TR_cam"]})
    await page.wait_for_function(
        "() => document.querySelector(\".tile[data-participant='PA2']\").textContent.includes('Video paused to keep audio')",
        timeout=5000,
    )
    script.push({"type": "quality", "direction": "receive", "state": "good", "estimate_kbps": None,
                 "reduced": [], "paused": []})
    await page.wait_for_function(
        "() => !document.querySelector(\".tile[data-participant='PA2']\").classList.contains('has-notice')", timeout=5000
    )
    script.push({"type": "quality", "direction": "send", "state": "limited", "estimate_kbps": 120, "limited": ["TR_me"]})
    await page.wait_for_function(
        "() => document.body.textContent.includes('Your connection is slow')", timeout=5000
    )
