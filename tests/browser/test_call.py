"""Two browsers in one room: each decodes the other's video and receives its audio; mute shows."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser

from tests.browser.conftest import RunningServer
from tests.browser.pages import (
    eventually,
    new_page,
    open_and_join,
    wait_media_flowing,
    wait_visible_picture,
)

pytestmark = pytest.mark.browser


async def test_two_browsers_see_and_hear_each_other(server: RunningServer, browser: Browser) -> None:
    alice = await new_page(browser)
    bob = await new_page(browser)
    await open_and_join(alice, server.join_url("call-1", "alice", "Alice Martin", role="practitioner"))
    await open_and_join(bob, server.join_url("call-1", "bob", "Bob Durand"))

    for page, other in ((alice, "Bob Durand"), (bob, "Alice Martin")):
        await wait_media_flowing(page)
        await wait_visible_picture(page)
        assert other in (await page.inner_text(".tile-camera:not(.tile-self) .tile-name"))
        # 1:1 layout: the other person large, yourself small.
        assert await page.get_attribute("#stage", "data-layout") == "one-to-one"
        assert await page.eval_on_selector(".tile-self", "el => el.classList.contains('small')")


async def test_mute_shows_at_the_other_side(server: RunningServer, browser: Browser) -> None:
    alice = await new_page(browser)
    bob = await new_page(browser)
    await open_and_join(alice, server.join_url("call-2", "alice", "Alice"))
    await open_and_join(bob, server.join_url("call-2", "bob", "Bob"))
    remote_tile = ".tile-camera:not(.tile-self)"
    await bob.wait_for_selector(f"{remote_tile} video", state="attached")

    async def bob_sees(cls: str, present: bool) -> bool:
        has = await bob.eval_on_selector(remote_tile, f"el => el.classList.contains('{cls}')")
        return bool(has) is present

    await eventually(lambda: bob_sees("mic-off", False), 15, "Alice's microphone shown as on")
    await alice.click("#btn-mic")
    await eventually(lambda: bob_sees("mic-off", True), 10, "Alice's microphone shown as muted at Bob")
    await alice.click("#btn-camera")
    await eventually(lambda: bob_sees("no-video", True), 10, "Alice's camera shown as off at Bob")
    await alice.click("#btn-mic")
    await alice.click("#btn-camera")
    await eventually(lambda: bob_sees("mic-off", False), 10, "Alice's microphone back on at Bob")
    await eventually(lambda: bob_sees("no-video", False), 10, "Alice's camera back on at Bob")


async def test_leaving_removes_the_tile_at_the_other_side(server: RunningServer, browser: Browser) -> None:
    alice = await new_page(browser)
    bob = await new_page(browser)
    await open_and_join(alice, server.join_url("call-3", "alice", "Alice"))
    await open_and_join(bob, server.join_url("call-3", "bob", "Bob"))
    await bob.wait_for_selector(".tile-camera:not(.tile-self)")
    assert "Alice" in await bob.inner_text("#room-title")
    await alice.click("#btn-leave")
    await alice.wait_for_selector("body[data-view='message']")
    await bob.wait_for_selector(".tile-camera:not(.tile-self)", state="detached", timeout=15000)
    assert await bob.get_attribute("#stage", "data-layout") == "solo"


async def test_picture_in_picture_and_full_screen(server: RunningServer, browser: Browser) -> None:
    alice = await new_page(browser)
    bob = await new_page(browser)
    await open_and_join(alice, server.join_url("call-4", "alice", "Alice"))
    await open_and_join(bob, server.join_url("call-4", "bob", "Bob"))
    await wait_visible_picture(alice)
    await alice.click("#btn-fullscreen")
    await alice.wait_for_function("() => document.fullscreenElement && document.fullscreenElement.id === 'app'", timeout=5000)
    await alice.click("#btn-fullscreen")
    await alice.wait_for_function("() => !document.fullscreenElement", timeout=5000)
    await alice.click("#btn-pip")
    await alice.wait_for_function(
        "() => document.pictureInPictureElement && !document.pictureInPictureElement.closest('.tile-self')", timeout=5000
    )
