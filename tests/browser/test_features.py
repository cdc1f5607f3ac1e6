"""Screen share, the echo (network) test, camera problems, reconnection and error pages."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, WebSocketRoute

from tests.browser.conftest import RunningServer
from tests.browser.pages import (
    eventually,
    new_page,
    open_and_join,
    totals,
    wait_media_flowing,
    wait_visible_picture,
)

pytestmark = pytest.mark.browser


async def test_screen_share_appears_as_an_extra_tile(server: RunningServer, browser: Browser) -> None:
    alice = await new_page(browser)
    bob = await new_page(browser)
    await open_and_join(alice, server.join_url("share-1", "alice", "Alice"))
    await open_and_join(bob, server.join_url("share-1", "bob", "Bob"))
    await wait_media_flowing(bob)

    await alice.click("#btn-screen")
    await alice.wait_for_function("() => window.consult.client.publications.get('screen')?.producerId", timeout=20000)
    await alice.wait_for_selector("#btn-screen[aria-pressed='true']", timeout=5000)

    await bob.wait_for_selector(".tile-screen video", timeout=20000)
    await wait_media_flowing(bob, videos=2)
    await wait_visible_picture(bob, ".tile-screen video")
    # A screen share is shown large: the focus layout, with the screen as the big tile.
    assert await bob.get_attribute("#stage", "data-layout") == "focus"
    assert not await bob.eval_on_selector(".tile-screen", "el => el.classList.contains('small')")

    await alice.click("#btn-screen")
    await bob.wait_for_selector(".tile-screen", state="detached", timeout=15000)
    assert await bob.get_attribute("#stage", "data-layout") == "one-to-one"

    # Sharing again works (a new m-line on the publish connection).
    await alice.click("#btn-screen")
    await bob.wait_for_selector(".tile-screen video", timeout=20000)
    await wait_visible_picture(bob, ".tile-screen video")


async def test_echo_test_produces_figures(server: RunningServer, browser: Browser) -> None:
    page = await new_page(browser)
    await page.goto(f"{server.base_url}/settings")
    await page.wait_for_function("() => document.getElementById('settings-preview').videoWidth > 0", timeout=20000)
    # Device lists and the microphone meter work.
    assert await page.eval_on_selector_all("#camera-select option", "els => els.length") >= 1
    assert await page.eval_on_selector_all("#mic-select option", "els => els.length") >= 1

    async def meter_moves() -> bool:
        level = await page.get_attribute("#mic-meter .meter-fill", "data-level")
        return level is not None and float(level) > 0.01

    await eventually(meter_moves, 10, "the microphone level meter to move (fake device beeps)")

    await page.click("#echo-start")
    await page.wait_for_selector("#echo-verdict[data-verdict='good'], #echo-verdict[data-verdict='usable'], #echo-verdict[data-verdict='not_suitable']", timeout=60000)
    outcome = await page.evaluate("() => window.consult.settings.lastEcho")
    assert "error" not in outcome, outcome
    assert outcome["framesDecoded"] > 30, outcome
    assert outcome["audioPacketsReceived"] > 50, outcome
    assert outcome["inboundKbps"] > 50, outcome
    assert outcome["rttMs"] is not None and outcome["rttMs"] < 100, outcome  # loopback
    assert outcome["lossPct"] < 5, outcome
    assert outcome["verdict"] in ("good", "usable"), outcome
    assert "ms" in await page.inner_text("#echo-rtt")
    assert "kbit/s" in await page.inner_text("#echo-bitrate")


async def test_camera_problem_goes_to_settings_and_back(server: RunningServer, browser: Browser) -> None:
    alice = await new_page(browser)
    bob = await new_page(browser)
    await open_and_join(alice, server.join_url("camera-1", "alice", "Alice"))
    await open_and_join(bob, server.join_url("camera-1", "bob", "Bob"))
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
    await alice.wait_for_selector("body[data-view='settings'] #camera-problem-banner:not([hidden])", timeout=10000)
    assert await alice.get_attribute("body", "data-state") == "connected"  # the call stays connected

    # The server notices the stalled camera and tells the other participant.
    await bob.wait_for_selector(".tile-camera:not(.tile-self).camera-problem", timeout=20000)
    assert "camera" in (await bob.inner_text(".tile-camera:not(.tile-self) .tile-notice")).lower()

    # The camera is back: the page finds it, checks the picture and returns to the consultation.
    await alice.evaluate("() => { navigator.mediaDevices.getUserMedia = window.__realGetUserMedia; }")
    await alice.wait_for_selector("body[data-view='call']", timeout=20000)
    await bob.wait_for_selector(".tile-camera:not(.tile-self):not(.camera-problem)", timeout=20000)
    before = await totals(bob)

    async def video_again() -> bool:
        return (await totals(bob))["frames"] > before["frames"] + 10

    await eventually(video_again, 15, "Bob decodes Alice's new camera track")
    await wait_visible_picture(bob)


async def test_black_camera_picture_goes_to_settings_and_back(server: RunningServer, browser: Browser) -> None:
    alice = await new_page(browser)
    await open_and_join(alice, server.join_url("camera-2", "alice", "Alice"))
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
    await alice.wait_for_selector("body[data-view='settings'][data-camera-problem='black']", timeout=15000)
    assert "black" in (await alice.inner_text("#camera-problem-banner")).lower()
    # Reopening the (fake) camera gives good pictures again: back to the consultation.
    await alice.wait_for_selector("body[data-view='call']:not([data-camera-problem])", timeout=20000)
    assert await alice.evaluate("() => window.consult.room.local.camera.label") != ""


async def test_reconnects_after_signalling_drop(server: RunningServer, browser: Browser) -> None:
    alice = await new_page(browser)
    bob = await new_page(browser)
    await open_and_join(alice, server.join_url("drop-1", "alice", "Alice"))
    await open_and_join(bob, server.join_url("drop-1", "bob", "Bob"))
    await wait_media_flowing(alice)

    await alice.evaluate("() => { window.__states = []; window.consult.client.on('state', (e) => window.__states.push(e.state)); }")
    await alice.evaluate("() => window.consult.client._ws.close()")  # the network drops the socket
    await alice.wait_for_function("() => window.__states.includes('reconnecting') && window.consult.client.state === 'connected'", timeout=30000)
    await alice.wait_for_function("() => window.consult.client.publications.get('camera')?.producerId", timeout=20000)
    await wait_media_flowing(alice)
    await wait_media_flowing(bob)
    await wait_visible_picture(bob)


@pytest.mark.parametrize(
    ("kind", "expected_code", "title"),
    [("expired", "token_expired", "expired"), ("forged", "invalid_token", "does not work")],
)
async def test_bad_links_get_clear_messages(server: RunningServer, browser: Browser, kind: str, expected_code: str, title: str) -> None:
    from control.tokens import mint

    if kind == "expired":
        token = mint(server.secret, room="r", identity="x", ttl_s=-10)
    else:
        token = mint("another-secret-that-is-long-enough-1234", room="r", identity="x")
    page = await new_page(browser)
    await page.goto(f"{server.base_url}/room/r#token={token}")
    if kind == "forged":  # only the server can tell: join first
        await page.wait_for_selector("body[data-view='prejoin']")
        await page.click("#join-button")
    await page.wait_for_selector(f"body[data-view='message'][data-error='{expected_code}']", timeout=15000)
    assert title in (await page.inner_text("#message-title")).lower()


async def test_server_unreachable_message(server: RunningServer, browser: Browser) -> None:
    page = await new_page(browser)

    async def refuse(ws: WebSocketRoute) -> None:  # the WebSocket never reaches the server
        await ws.close()

    await page.route_web_socket("**/ws", refuse)
    await page.goto(server.join_url("r-unreachable", "x"))
    await page.wait_for_selector("body[data-view='prejoin']")
    await page.click("#join-button")
    await page.wait_for_selector("body[data-view='message'][data-error='server_unreachable']", timeout=20000)
    assert "reach" in (await page.inner_text("#message-title")).lower()
    assert await page.is_visible("#message-action")  # "Try again"
