"""Calls in the room page, on each engine: 1:1 both ways, four people, mute, leave and rejoin,
picture in picture and full screen."""

from __future__ import annotations

import pytest

from tests.browser.conftest import RunningServer
from tests.browser.engine import BrowserPage, Engine
from tests.browser.pages import (
    eventually,
    inbound,
    join,
    open_and_join,
    wait_media_flowing,
    wait_visible_picture,
)

pytestmark = pytest.mark.browser

REMOTE = ".tile-camera:not(.tile-self)"


async def test_two_browsers_see_and_hear_each_other(server: RunningServer, browser: Engine) -> None:
    alice = await browser.new_page()
    bob = await browser.new_page()
    room = f"call-1-{browser.name}"
    await open_and_join(alice, server.join_url(room, "alice", "Alice Martin", role="practitioner"))
    await open_and_join(bob, server.join_url(room, "bob", "Bob Durand"))

    for page, other in ((alice, "Bob Durand"), (bob, "Alice Martin")):
        await wait_media_flowing(page)
        await wait_visible_picture(page)
        assert other in await page.text(f"{REMOTE} .tile-name")
        # 1:1 layout: the other person large, yourself small.
        assert await page.attribute("#stage", "data-layout") == "one-to-one"
        assert await page.has_class(".tile-self", "small")
    for page in (alice, bob):
        assert not page.errors, page.errors


async def test_four_people_each_receive_three(server: RunningServer, browser: Engine) -> None:
    room = f"four-{browser.name}"
    pages: list[BrowserPage] = []
    for name in ("Ana", "Ben", "Cleo", "Dev"):
        page = await browser.new_page(width=960, height=540)
        await open_and_join(page, server.join_url(room, name.lower(), name))
        pages.append(page)
    for page in pages:
        await wait_media_flowing(page, videos=3, timeout_s=60)
        assert await page.attribute("#stage", "data-layout") == "grid"
        assert await page.count(REMOTE) == 3
        audio = [s for s in await inbound(page) if s["kind"] == "audio" and s["packetsReceived"] > 0]
        assert len(audio) == 3, audio


async def test_mute_shows_at_the_other_side(server: RunningServer, browser: Engine) -> None:
    alice = await browser.new_page()
    bob = await browser.new_page()
    room = f"call-2-{browser.name}"
    await open_and_join(alice, server.join_url(room, "alice", "Alice"))
    await open_and_join(bob, server.join_url(room, "bob", "Bob"))
    await bob.wait_for_selector(f"{REMOTE} video", state="attached")

    async def bob_sees(cls: str, present: bool) -> bool:
        return await bob.has_class(REMOTE, cls) is present

    await eventually(lambda: bob_sees("mic-off", False), 15, "Alice's microphone shown as on")
    await alice.click("#btn-mic")
    await eventually(lambda: bob_sees("mic-off", True), 10, "Alice's microphone shown as muted at Bob")
    await alice.click("#btn-camera")
    await eventually(lambda: bob_sees("no-video", True), 10, "Alice's camera shown as off at Bob")
    await alice.click("#btn-mic")
    await alice.click("#btn-camera")
    await eventually(lambda: bob_sees("mic-off", False), 10, "Alice's microphone back on at Bob")
    await eventually(lambda: bob_sees("no-video", False), 10, "Alice's camera back on at Bob")


async def test_leave_and_rejoin(server: RunningServer, browser: Engine) -> None:
    alice = await browser.new_page()
    bob = await browser.new_page()
    room = f"call-3-{browser.name}"
    url = server.join_url(room, "alice", "Alice")
    await open_and_join(alice, url)
    await open_and_join(bob, server.join_url(room, "bob", "Bob"))
    await bob.wait_for_selector(REMOTE)
    assert "Alice" in await bob.text("#room-title")
    await alice.click("#btn-leave")
    await alice.wait_for_selector("body[data-view='message']")
    await bob.wait_for_selector(REMOTE, state="detached", timeout_s=15)
    assert await bob.attribute("#stage", "data-layout") == "solo"

    # "Join again" (a person who left by mistake): media flows both ways once more.
    assert "join again" in (await alice.text("#message-action")).lower()
    await alice.click("#message-action")
    await join(alice)
    await bob.wait_for_selector(REMOTE, timeout_s=15)
    for page in (alice, bob):
        await wait_media_flowing(page)
        await wait_visible_picture(page)


async def test_picture_in_picture_and_full_screen(server: RunningServer, browser: Engine) -> None:
    alice = await browser.new_page()
    bob = await browser.new_page()
    room = f"call-4-{browser.name}"
    await open_and_join(alice, server.join_url(room, "alice", "Alice"))
    await open_and_join(bob, server.join_url(room, "bob", "Bob"))
    await wait_visible_picture(alice)
    await alice.click("#btn-fullscreen")
    await alice.wait_for("() => document.fullscreenElement && document.fullscreenElement.id === 'app'", timeout_s=5, what="full screen")
    await alice.click("#btn-fullscreen")
    await alice.wait_for("() => !document.fullscreenElement", timeout_s=5, what="full screen left")
    await alice.click("#btn-pip")  # Firefox ESR 153 has the web API too (pictureInPictureEnabled)
    await alice.wait_for(
        "() => document.pictureInPictureElement && !document.pictureInPictureElement.closest('.tile-self')", timeout_s=5, what="picture in picture"
    )
