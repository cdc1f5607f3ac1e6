"""Screen share, the echo (network) test, camera problems, reconnection and error pages."""

from __future__ import annotations

import pytest
from playwright.async_api import WebSocketRoute

from tests.browser.conftest import RunningServer
from tests.browser.engine import Engine
from tests.browser.engine_chromium import ChromiumEngine
from tests.browser.pages import (
    eventually,
    open_and_join,
    totals,
    wait_media_flowing,
    wait_visible_picture,
)

pytestmark = pytest.mark.browser


async def test_screen_share_appears_as_an_extra_tile(server: RunningServer, browser: Engine) -> None:
    alice = await browser.new_page()
    bob = await browser.new_page()
    room = f"share-1-{browser.name}"
    await open_and_join(alice, server.join_url(room, "alice", "Alice"))
    await open_and_join(bob, server.join_url(room, "bob", "Bob"))
    await wait_media_flowing(bob)

    await alice.click("#btn-screen")
    await alice.wait_for("() => window.consult.client.publications.get('screen')?.producerId", timeout_s=20, what="the screen published")
    await alice.wait_for_selector("#btn-screen[aria-pressed='true']", timeout_s=5)

    await bob.wait_for_selector(".tile-screen video", timeout_s=20)
    await wait_media_flowing(bob, videos=2)
    await wait_visible_picture(bob, ".tile-screen video")
    # A screen share is shown large: the focus layout, with the screen as the big tile.
    assert await bob.attribute("#stage", "data-layout") == "focus"
    assert not await bob.has_class(".tile-screen", "small")

    await alice.click("#btn-screen")
    await bob.wait_for_selector(".tile-screen", state="detached", timeout_s=15)
    assert await bob.attribute("#stage", "data-layout") == "one-to-one"

    # Sharing again works (a new m-line on the publish connection).
    await alice.click("#btn-screen")
    await bob.wait_for_selector(".tile-screen video", timeout_s=20)
    await wait_visible_picture(bob, ".tile-screen video")


async def test_echo_test_produces_figures(server: RunningServer, browser: Engine) -> None:
    page = await browser.new_page()
    await page.goto(f"{server.base_url}/settings")
    await page.wait_for("() => document.getElementById('settings-preview').videoWidth > 0", timeout_s=20, what="the settings preview")
    # Device lists and the microphone meter work.
    assert await page.count("#camera-select option") >= 1
    assert await page.count("#mic-select option") >= 1

    async def meter_moves() -> bool:
        level = await page.attribute("#mic-meter .meter-fill", "data-level")
        return level is not None and float(level) > 0.01

    await eventually(meter_moves, 10, "the microphone level meter to move (fake device beeps)")

    await page.click("#echo-start")
    await page.wait_for_selector("#echo-verdict[data-verdict='good'], #echo-verdict[data-verdict='usable'], #echo-verdict[data-verdict='not_suitable']", timeout_s=60)
    outcome = await page.evaluate("() => window.consult.settings.lastEcho")
    assert "error" not in outcome, outcome
    assert outcome["framesDecoded"] > 30, outcome
    assert outcome["audioPacketsReceived"] > 50, outcome
    assert outcome["inboundKbps"] > 50, outcome
    assert outcome["rttMs"] is not None and outcome["rttMs"] < 100, outcome  # loopback
    assert outcome["iceRttMs"] is not None, outcome  # read from each engine's candidate-pair stats
    assert outcome["lossPct"] < 5, outcome
    assert outcome["verdict"] in ("good", "usable"), outcome
    assert "ms" in await page.text("#echo-rtt")
    assert "kbit/s" in await page.text("#echo-bitrate")


async def test_camera_problem_goes_to_settings_and_back(server: RunningServer, browser: Engine) -> None:
    alice = await browser.new_page()
    bob = await browser.new_page()
    room = f"camera-1-{browser.name}"
    await open_and_join(alice, server.join_url(room, "alice", "Alice"))
    await open_and_join(bob, server.join_url(room, "bob", "Bob"))
    await wait_media_flowing(bob)

    # The camera goes away (unplugged): its track ends and, for a while, no camera opens.
    await alice.evaluate(
        """() => {
          const md = navigator.mediaDevices;
          window.__realGetUserMedia = md.getUserMedia.bind(md);
          md.getUserMedia = () => Promise.reject(new DOMException('unplugged', 'NotFoundError'));
          window.consult.room.local.camera.stop();
        }"""
    )
    await alice.wait_for_selector("body[data-view='settings'] #camera-problem-banner:not([hidden])", timeout_s=10)
    assert await alice.attribute("body", "data-state") == "connected"  # the call stays connected

    # The server notices the stalled camera and tells the other participant.
    await bob.wait_for_selector(".tile-camera:not(.tile-self).camera-problem", timeout_s=20)
    assert "camera" in (await bob.text(".tile-camera:not(.tile-self) .tile-notice")).lower()

    # The camera is back: the page finds it, checks the picture and returns to the consultation.
    await alice.evaluate("() => { navigator.mediaDevices.getUserMedia = window.__realGetUserMedia; }")
    await alice.wait_for_selector("body[data-view='call']", timeout_s=20)
    await bob.wait_for_selector(".tile-camera:not(.tile-self):not(.camera-problem)", timeout_s=20)
    before = await totals(bob)

    async def video_again() -> bool:
        return (await totals(bob))["frames"] > before["frames"] + 10

    await eventually(video_again, 15, "Bob decodes Alice's new camera track")
    await wait_visible_picture(bob)


async def test_black_camera_picture_goes_to_settings_and_back(server: RunningServer, browser: Engine) -> None:
    alice = await browser.new_page()
    await open_and_join(alice, server.join_url(f"camera-2-{browser.name}", "alice", "Alice"))
    # The camera keeps running but only delivers black pictures (a covered lens, a broken driver).
    await alice.evaluate(
        """() => {
          const canvas = document.createElement('canvas');
          canvas.width = 320; canvas.height = 240;
          const ctx = canvas.getContext('2d');
          setInterval(() => { ctx.fillStyle = '#000'; ctx.fillRect(0, 0, 320, 240); }, 100);
          return window.consult.room.useTrack('camera', canvas.captureStream(10).getVideoTracks()[0]);
        }"""
    )
    await alice.wait_for_selector("body[data-view='settings'][data-camera-problem='black']", timeout_s=15)
    assert "black" in (await alice.text("#camera-problem-banner")).lower()
    # Reopening the (fake) camera gives good pictures again: back to the consultation.
    await alice.wait_for_selector("body[data-view='call']:not([data-camera-problem])", timeout_s=20)
    assert await alice.evaluate("() => window.consult.room.local.camera.label") != ""


async def test_reconnects_after_signalling_drop(server: RunningServer, browser: Engine) -> None:
    alice = await browser.new_page()
    bob = await browser.new_page()
    room = f"drop-1-{browser.name}"
    await open_and_join(alice, server.join_url(room, "alice", "Alice"))
    await open_and_join(bob, server.join_url(room, "bob", "Bob"))
    await wait_media_flowing(alice)

    await alice.evaluate("() => { window.__states = []; window.consult.client.on('state', (e) => window.__states.push(e.state)); }")
    await alice.evaluate("() => window.consult.client._ws.close()")  # the network drops the socket
    await alice.wait_for("() => window.__states.includes('reconnecting') && window.consult.client.state === 'connected'", timeout_s=30, what="reconnected")
    await alice.wait_for("() => window.consult.client.publications.get('camera')?.producerId", timeout_s=20, what="the camera published again")
    await wait_media_flowing(alice)
    await wait_media_flowing(bob)
    await wait_visible_picture(bob)


@pytest.mark.parametrize(
    ("kind", "expected_code", "title"),
    [("expired", "token_expired", "expired"), ("forged", "invalid_token", "does not work")],
)
async def test_bad_links_get_clear_messages(server: RunningServer, browser: Engine, kind: str, expected_code: str, title: str) -> None:
    from control.tokens import mint

    if kind == "expired":
        token = mint(server.secret, room="r", identity="x", ttl_s=-10)
    else:
        token = mint("another-secret-that-is-long-enough-1234", room="r", identity="x")
    page = await browser.new_page()
    await page.goto(f"{server.base_url}/room/r#token={token}")
    if kind == "forged":  # only the server can tell: join first
        await page.wait_for_selector("body[data-view='prejoin']")
        await page.click("#join-button")
    await page.wait_for_selector(f"body[data-view='message'][data-error='{expected_code}']", timeout_s=15)
    assert title in (await page.text("#message-title")).lower()


async def test_server_unreachable_message(server: RunningServer, chromium: ChromiumEngine) -> None:
    """Chromium only: the WebSocket is refused with Playwright's routing, which WebDriver lacks."""
    page = await chromium.new_page()

    async def refuse(ws: WebSocketRoute) -> None:  # the WebSocket never reaches the server
        await ws.close()

    await page.page.route_web_socket("**/ws", refuse)
    await page.goto(server.join_url("r-unreachable", "x"))
    await page.wait_for_selector("body[data-view='prejoin']")
    await page.click("#join-button")
    await page.wait_for_selector("body[data-view='message'][data-error='server_unreachable']", timeout_s=20)
    assert "reach" in (await page.text("#message-title")).lower()
    assert await page.is_visible("#message-action")  # "Try again"
