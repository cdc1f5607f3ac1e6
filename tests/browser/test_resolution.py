"""The resolution menu: the most you receive (a server rendition) and what you send (sender scaling)."""

from __future__ import annotations

import pytest

from tests.browser.conftest import RunningServer
from tests.browser.engine import BrowserPage, Engine
from tests.browser.pages import eventually, inbound, open_and_join, wait_media_flowing

pytestmark = pytest.mark.browser


async def received_height(page: BrowserPage) -> int:
    videos = [s for s in await inbound(page) if s["kind"] == "video"]
    return max((s["frameHeight"] for s in videos), default=0)


async def choose(page: BrowserPage, select: str, value: str) -> None:
    await page.click("#btn-resolution")
    await page.select(select, value)
    await page.press("Escape")


async def test_receive_cap_and_send_cap(server: RunningServer, browser: Engine) -> None:
    alice = await browser.new_page()
    bob = await browser.new_page()
    room = f"res-1-{browser.name}"
    await open_and_join(alice, server.join_url(room, "alice", "Alice"))
    await open_and_join(bob, server.join_url(room, "bob", "Bob"))
    await wait_media_flowing(bob)

    async def bob_receives_more_than_180() -> bool:
        return await received_height(bob) > 180

    await eventually(bob_receives_more_than_180, 20, "Bob receiving Alice's camera above 180p")

    # Bob: "I receive at most 180p" -> the server sends him a 180p rendition.
    await choose(bob, "#receive-resolution", "180")

    async def bob_capped() -> bool:
        return 0 < await received_height(bob) <= 180

    await eventually(bob_capped, 20, "Bob's received video at most 180p")

    # Back to the best available, then Alice sends at most 180p herself.
    await choose(bob, "#receive-resolution", "0")
    await eventually(bob_receives_more_than_180, 20, "Bob back above 180p")
    await choose(alice, "#send-resolution", "180")
    await eventually(bob_capped, 20, "Alice's camera sent at 180p")
    assert await alice.evaluate("() => JSON.parse(localStorage.getItem('consult-sfu.prefs.v1')).sendHeight") == 180
