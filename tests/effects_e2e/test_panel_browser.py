"""The Background menu in headless Chromium and Firefox against the in-process server.

The browser's fake camera (a moving test pattern) publishes; the page's menu turns blur on,
the self tile then shows the server's processed stream (not the local camera) and the
server runs the effect; Off brings the local camera back and stops the effect. A room
whose policy forbids effects hides the button; a room that asks again shows the prompt.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from control.tokens import join_url
from tests.browser.engine import BrowserPage, Engine
from tests.browser.pages import eventually, open_and_join
from tests.effects_e2e.test_policy_and_uploads import call, live, room_with
from tests.support.server import RunningServer, running_server

pytestmark = [pytest.mark.browser, pytest.mark.long]

SELF_VIEW_JS = """
() => {
  const fx = window.consult.effects;
  const video = document.querySelector('.tile-self video');
  if (!fx || !video || !video.srcObject) return null;
  const shown = video.srcObject.getVideoTracks()[0];
  const local = window.consult.room.local.camera;
  return {
    processed: !!fx.selfStream && shown === fx.selfStream.getVideoTracks()[0],
    local: !!local && shown === local,
    playing: video.readyState >= 2 && video.videoWidth > 0,
  };
}
"""


def transform_of(server: RunningServer, room: str, producer_id: str | None = None) -> str | None:
    """The effect on the room's camera (the given producer's, or the first camera's)."""
    media_room = server.media.find_room(room)  # type: ignore[arg-type]
    if media_room is None:
        return None
    for participant in media_room.participants.values():
        for producer in participant.producers.values():
            if producer_id is not None and producer.id != producer_id:
                continue
            if producer.source == "camera":
                return producer.transform.name if producer.transform else None
    return None


async def self_view(page: BrowserPage) -> dict[str, bool] | None:
    return await page.evaluate(SELF_VIEW_JS)  # type: ignore[no-any-return]


async def test_menu_turns_blur_on_with_a_processed_self_view_and_off(tmp_path: Path, browser: Engine) -> None:
    async with running_server(tmp_path) as server:
        page = await browser.new_page()
        try:
            await open_and_join(page, join_url(server.http_url, "fxpage", server.token("fxpage", "pat", name="Pat")))
            await page.wait_for_selector("#btn-effects:not([hidden])")
            await page.click("#btn-effects")
            await page.wait_for_selector("#effects-menu:not([hidden])")
            await page.click("#effects-menu [data-kind='blur'][data-strength='strong']")
            await eventually(lambda: _async(transform_of(server, "fxpage") == "blur:strong"), 15, "the server runs the blur")

            async def processed_playing() -> bool:
                view = await self_view(page)
                return bool(view and view["processed"] and view["playing"])

            await eventually(processed_playing, 30, "the self tile plays the server's processed stream")
            await page.screenshot(tmp_path / "effects-blur.png")

            # the network drops the socket: after the re-join the blur is applied again
            first_producer = await page.evaluate("() => window.consult.client.publications.get('camera').producerId")
            await page.evaluate("() => window.consult.client._ws.close()")
            await page.wait_for(
                "(old) => { const c = window.consult.client; const p = c.publications.get('camera');"
                " return !!(c.state === 'connected' && p && p.producerId && p.producerId !== old); }",
                first_producer,
                timeout_s=30,
                what="the camera published again after re-joining",
            )
            second_producer = await page.evaluate("() => window.consult.client.publications.get('camera').producerId")
            await eventually(
                lambda: _async(transform_of(server, "fxpage", second_producer) == "blur:strong"), 15, "the blur re-applied after re-joining"
            )
            await eventually(processed_playing, 30, "the processed self view after re-joining")
            await page.click("#btn-effects")
            checked = await page.attribute("#effects-menu [data-kind='blur'][data-strength='strong']", "aria-checked")
            assert checked == "true"
            await page.click("#effects-menu [data-kind='none']")
            await eventually(lambda: _async(transform_of(server, "fxpage") is None), 15, "the effect is removed")

            async def local_again() -> bool:
                view = await self_view(page)
                return bool(view and view["local"])

            await eventually(local_again, 15, "the self tile shows the local camera again")
        finally:
            await page.close()


async def test_policy_hides_the_button_and_ask_again_prompts(tmp_path: Path, browser: Engine) -> None:
    async with live(tmp_path) as (server, http, _dept):
        forbidden = await room_with(http, background_effects_allowed=False)
        asking = await room_with(http, effects_ask_again=True)

        async def url(room: str) -> str:
            issued = await call(http, "POST", f"/v1/rooms/{room}/tokens", {"identity": "dr", "name": "Dr", "role": "practitioner"}, status=201)
            return join_url(server.http_url, room, str(issued["token"]))

        page = await browser.new_page()
        try:
            await open_and_join(page, await url(forbidden))
            assert await page.is_hidden("#btn-effects")
        finally:
            await page.close()

        page = await browser.new_page()
        try:
            await open_and_join(page, await url(asking))
            await page.click("#btn-effects")
            await page.click("#effects-menu [data-kind='blur'][data-strength='light']")
            await eventually(lambda: _async(transform_of(server, asking) == "blur:light"), 15, "blur on")
        finally:
            await page.close()
        await eventually(lambda: _async(server.media.find_room(asking) is None), 10, "the first visit left")  # type: ignore[arg-type]

        page = await browser.new_page()
        try:
            await open_and_join(page, await url(asking))
            await page.wait_for_selector(".effects-prompt h2", timeout_s=15)
            assert await page.text(".effects-prompt h2") == "Use your previous background (blur)?"
            await page.screenshot(tmp_path / "effects-prompt.png")
            await page.click("#effects-prompt-yes")
            await eventually(lambda: _async(transform_of(server, asking) == "blur:light"), 15, "the previous blur re-applied")
        finally:
            await page.close()


async def _async(value: bool) -> bool:
    return value
