"""The pages' pure logic (layout, camera health, verdicts, links), run in Chromium itself, and the
messages a person sees for refusals the real server only sends with the control plane's rooms
(a mocked WebSocket plays the server there).

Chromium only: the scripted server is Playwright's WebSocket and HTTP routing, which WebDriver
has no equivalent of here; the logic itself is plain JavaScript, the same in every engine.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from playwright.async_api import Browser, Page, Route, WebSocketRoute

from tests.browser.conftest import RunningServer
from tests.browser.engine_chromium import ChromiumEngine

pytestmark = pytest.mark.browser


@pytest.fixture
def browser(chromium: ChromiumEngine) -> Browser:
    """This module's tests drive Playwright directly (see the docstring)."""
    return chromium.browser


async def new_page(browser: Browser) -> Page:
    context = await browser.new_context(viewport={"width": 1280, "height": 720})
    page = await context.new_page()
    page.on("console", lambda msg: print(f"[console {msg.type}] {msg.text}") if msg.type in ("error", "warning") else None)
    page.on("pageerror", lambda err: print(f"[pageerror] {err}"))
    return page


async def blank_page(browser: Browser, server: RunningServer) -> Page:
    page = await new_page(browser)
    await page.goto(f"{server.base_url}/healthz")  # same origin as /static, nothing else running
    return page


async def test_layouts(server: RunningServer, browser: Browser) -> None:
    page = await blank_page(browser, server)
    result: dict[str, Any] = await page.evaluate(
        """async () => {
          const { computeLayout } = await import('/static/js/tiles.js');
          const self = { key: 'self', kind: 'camera', self: true };
          const cam = (k) => ({ key: k, kind: 'camera', self: false });
          const run = (tiles, pinned, w, h) => {
            const { mode, rects } = computeLayout(tiles, pinned, w, h);
            return { mode, rects: Object.fromEntries(rects) };
          };
          return {
            solo: run([self], null, 1280, 720),
            one: run([cam('a'), self], null, 1280, 720),
            four: run([cam('a'), cam('b'), cam('c'), self], null, 1280, 720),
            phone: run([cam('a'), cam('b'), cam('c'), self], null, 390, 700),
            screen: run([{ key: 's', kind: 'screen', self: false }, cam('a'), self], null, 1280, 720),
            pinned: run([cam('a'), cam('b'), cam('c'), self], 'b', 1280, 720),
          };
        }"""
    )
    assert result["solo"]["mode"] == "solo"
    one = result["one"]
    assert one["mode"] == "one-to-one"
    assert one["rects"]["a"]["w"] == 1280 and not one["rects"]["a"]["small"]
    assert one["rects"]["self"]["small"] and one["rects"]["self"]["w"] < 400
    assert result["four"]["mode"] == "grid"
    assert {r["w"] for r in result["four"]["rects"].values()} == {637}  # 2 x 2
    for name in ("four", "phone"):
        rects = list(result[name]["rects"].values())
        width = 1280 if name == "four" else 390
        height = 720 if name == "four" else 700
        for i, a in enumerate(rects):
            assert a["x"] >= 0 and a["y"] >= 0 and a["x"] + a["w"] <= width + 1 and a["y"] + a["h"] <= height + 1
            for b in rects[i + 1 :]:  # grid tiles never overlap
                assert a["x"] + a["w"] <= b["x"] or b["x"] + b["w"] <= a["x"] or a["y"] + a["h"] <= b["y"] or b["y"] + b["h"] <= a["y"]
    screen = result["screen"]
    assert screen["mode"] == "focus" and not screen["rects"]["s"]["small"] and screen["rects"]["a"]["small"]
    assert screen["rects"]["s"]["w"] > 900
    assert result["pinned"]["mode"] == "focus" and not result["pinned"]["rects"]["b"]["small"]


async def test_camera_health_judgement(server: RunningServer, browser: Browser) -> None:
    page = await blank_page(browser, server)
    result: dict[str, Any] = await page.evaluate(
        """async () => {
          const { FrameHealth } = await import('/static/js/media.js');
          const frame = (v) => Uint8Array.from({ length: 768 }, (_, i) => (v + i) % 200 + 30);
          const black = () => new Uint8Array(768).fill(3);
          const run = (samples) => {
            const h = new FrameHealth({ problemAfterMs: 3000, okAfterMs: 1000 });
            return samples.map((s, i) => h.update({ now: i * 500, ended: false, enabled: true, framesEncoded: null, ...s }));
          };
          const moving = Array.from({ length: 10 }, (_, i) => ({ luma: frame(i * 7), framesEncoded: i * 15 }));
          const frozen = Array.from({ length: 10 }, () => ({ luma: frame(5), framesEncoded: 100 }));
          const stillButEncoding = Array.from({ length: 10 }, (_, i) => ({ luma: frame(5), framesEncoded: 100 + i * 15 }));
          const dark = Array.from({ length: 10 }, () => ({ luma: black() }));
          const muted = Array.from({ length: 10 }, () => ({ luma: black(), enabled: false }));
          return {
            moving: run(moving).map((r) => r.state),
            frozen: run(frozen).map((r) => r.problem),
            stillButEncoding: run(stillButEncoding).map((r) => r.problem),
            dark: run(dark).map((r) => r.problem),
            muted: run(muted).map((r) => r.state),
            ended: run([{ luma: frame(1), ended: true }])[0],
          };
        }"""
    )
    assert result["moving"][-1] == "ok" and "problem" not in result["moving"]
    frozen = result["frozen"]
    first = frozen.index("frozen")
    assert first == 7, frozen  # 3 s after the picture stopped changing (samples every 0.5 s)
    assert set(result["stillButEncoding"]) == {None}  # a still scene that is still being encoded
    assert result["dark"].index("black") == 6, result["dark"]
    assert set(result["muted"]) == {"unknown"}  # a camera the user turned off is not a problem
    assert result["ended"] == {"state": "problem", "problem": "ended"}


async def test_network_verdicts_and_join_links(server: RunningServer, browser: Browser) -> None:
    page = await blank_page(browser, server)
    result: dict[str, Any] = await page.evaluate(
        """async () => {
          const { judgeNetwork } = await import('/static/js/echo-test.js');
          const { parseJoinUrl, ConsultClient } = await import('/static/js/consult-client.js');
          const base = { rttMs: 20, lossPct: 0.2, inboundKbps: 900, framesDecoded: 200, audioPacketsReceived: 400 };
          let missing = null;
          try { parseJoinUrl('https://x.example/room/r1'); } catch (e) { missing = e.code; }
          let badUrl = null;
          try { new ConsultClient({ url: 'https://x', token: 't' }); } catch (e) { badUrl = e.code; }
          return {
            good: judgeNetwork(base),
            slow: judgeNetwork({ ...base, rttMs: 350 }),
            lossy: judgeNetwork({ ...base, lossPct: 15 }),
            thin: judgeNetwork({ ...base, inboundKbps: 150 }),
            nothing: judgeNetwork({ ...base, framesDecoded: 0, audioPacketsReceived: 0, inboundKbps: 0 }),
            link: parseJoinUrl('https://clinic.example/consult/room/r%201#token=abc.def.ghi'),
            local: parseJoinUrl('http://127.0.0.1:8080/room/x#token=t'),
            missing, badUrl,
          };
        }"""
    )
    assert result["good"]["verdict"] == "good"
    assert result["slow"]["verdict"] == "usable" and "350 ms" in result["slow"]["reasons"][0]
    assert result["lossy"]["verdict"] == "not_suitable" and "lost" in result["lossy"]["reasons"][0]
    assert result["thin"]["verdict"] == "usable"
    assert result["nothing"]["verdict"] == "not_suitable" and "firewall" in result["nothing"]["reasons"][0]
    assert result["link"] == {"wsUrl": "wss://clinic.example/consult/ws", "token": "abc.def.ghi", "room": "r 1"}
    assert result["local"]["wsUrl"] == "ws://127.0.0.1:8080/ws"
    assert result["missing"] == "invalid_token"
    assert result["badUrl"] == "invalid_option"


class ScriptedServer:
    """Plays the server on a mocked WebSocket: answers `join` with `replies`, can push more later."""

    def __init__(self, replies: list[dict[str, Any]]) -> None:
        self.replies = replies
        self.route: WebSocketRoute | None = None

    def handler(self, ws: WebSocketRoute) -> None:
        self.route = ws

        def on_message(text: str | bytes) -> None:
            if json.loads(text).get("type") == "join":
                for reply in self.replies:
                    self.push(reply)

        ws.on_message(on_message)

    def push(self, msg: dict[str, Any]) -> None:
        assert self.route is not None
        self.route.send(json.dumps({"v": 1, **msg}))


async def join_scripted(browser: Browser, server: RunningServer, script: ScriptedServer) -> Page:
    page = await new_page(browser)
    await page.route_web_socket("**/ws", script.handler)
    await page.goto(server.join_url("scripted", "pat", "Pat"))
    await page.wait_for_selector("body[data-view='prejoin']")
    await page.click("#join-button")
    return page


async def test_too_early_shows_the_opening_time(server: RunningServer, browser: Browser) -> None:
    opens_at = 4102444800  # 2100-01-01T00:00:00Z
    script = ScriptedServer([{"type": "access_refused", "reason": "too_early", "message": "the room opens later", "opens_at": opens_at}])
    page = await join_scripted(browser, server, script)
    await page.wait_for_selector("body[data-view='message'][data-error='too_early']", timeout=10000)
    assert "early" in (await page.inner_text("#message-title")).lower()
    body = await page.inner_text("#message-body")
    assert "2100" in body or "January" in body or "Friday" in body, body


async def test_too_late_and_denied(server: RunningServer, browser: Browser) -> None:
    late = await join_scripted(browser, server, ScriptedServer([{"type": "access_refused", "reason": "too_late", "message": "over"}]))
    await late.wait_for_selector("body[data-view='message'][data-error='too_late']", timeout=10000)
    assert "over" in (await late.inner_text("#message-title")).lower()

    script = ScriptedServer([{"type": "waiting", "status": "on_time", "practitioner_status": "online", "server_time": 0}])
    page = await join_scripted(browser, server, script)
    await page.wait_for_selector("body[data-view='waiting'][data-state='waiting']", timeout=10000)
    script.push({"type": "denied", "message": "Please call the clinic to book another time."})
    script.push({"type": "bye", "reason": "denied", "message": "Please call the clinic to book another time."})
    await page.wait_for_selector("body[data-view='message'][data-error='denied']", timeout=10000)
    assert "not admitted" in (await page.inner_text("#message-title")).lower()
    assert "call the clinic" in await page.inner_text("#message-body")


async def test_permission_denied_and_no_camera(server: RunningServer, browser: Browser) -> None:
    for error, expected in (("NotAllowedError", "blocked"), ("NotFoundError", "no camera")):
        page = await new_page(browser)
        await page.add_init_script(
            f"navigator.mediaDevices.getUserMedia = () => Promise.reject(new DOMException('refused', '{error}'));"
        )
        await page.goto(server.join_url("perm", "pat", "Pat"))
        await page.wait_for_selector("#prejoin-notice:not([hidden])", timeout=10000)
        assert expected in (await page.inner_text("#prejoin-notice")).lower()
        await page.context.close()


async def test_room_settings_and_consultation_clock(server: RunningServer, browser: Browser) -> None:
    started = time.time() - 3600 - 5
    joined = {
        "type": "joined", "participant_id": "PA1", "room": "scripted", "identity": "pat", "name": "Pat", "role": "client",
        "ice_servers": [], "settings": {"resolution_change_allowed": False}, "participants": [], "producers": [],
        "started_at": started,
    }
    page = await join_scripted(browser, server, ScriptedServer([joined]))
    await page.wait_for_selector("body[data-view='call'][data-state='connected']", timeout=10000)
    assert await page.is_hidden("#btn-resolution")  # the room does not allow resolution changes
    await page.wait_for_function("() => document.getElementById('clock').textContent.startsWith('1:00:')", timeout=5000)
    assert await page.get_attribute("#stage", "data-layout") == "solo"


WAITING_EXTENSION = """
export function install(room) {
  room.addToolbarButton({ id: 'btn-queue', label: 'Queue', onClick: () => {} });
  room.onClient((client) => {
    client.on('waiting', (msg) => {
      room.elements.waiting.innerHTML = `<p id="ext-waiting">status ${msg.status}, practitioner ${msg.practitioner_status}</p>`;
    });
  });
}
"""


async def test_waiting_room_extension_hook(server: RunningServer, browser: Browser) -> None:
    script = ScriptedServer([{"type": "waiting", "status": "late", "practitioner_status": "in_consultation", "server_time": 0}])
    page = await new_page(browser)

    async def serve_extension(route: Route) -> None:
        await route.fulfill(status=200, content_type="text/javascript", body=WAITING_EXTENSION)

    await page.route("**/static/js/waiting.js", serve_extension)
    await page.route_web_socket("**/ws", script.handler)
    await page.goto(server.join_url("scripted", "pat", "Pat"))
    await page.wait_for_selector("body[data-view='prejoin']")
    assert await page.query_selector("#toolbar-extra #btn-queue") is not None
    await page.click("#join-button")
    await page.wait_for_selector("body[data-view='waiting'] #ext-waiting", timeout=10000)
    assert await page.inner_text("#ext-waiting") == "status late, practitioner in_consultation"


async def test_video_fit_setting_is_applied_and_remembered(server: RunningServer, browser: Browser) -> None:
    joined = {
        "type": "joined", "participant_id": "PA1", "room": "scripted", "identity": "pat", "name": "Pat", "role": "client",
        "ice_servers": [], "settings": {}, "participants": [], "producers": [],
    }
    page = await join_scripted(browser, server, ScriptedServer([joined]))
    await page.wait_for_selector("body[data-view='call']", timeout=10000)
    assert await page.eval_on_selector("#stage", "el => el.classList.contains('fit-cover')")
    await page.click("#btn-settings")
    await page.wait_for_selector("body[data-view='settings']")
    assert await page.is_hidden("#echo-section")  # no network test during a call
    await page.check("input[name='video-fit'][value='contain']")
    await page.click("#settings-close")
    await page.wait_for_selector("body[data-view='call']")
    assert await page.eval_on_selector("#stage", "el => el.classList.contains('fit-contain')")
    await page.reload()
    await page.wait_for_selector("body[data-view='prejoin']")
    assert await page.eval_on_selector("#stage", "el => el.classList.contains('fit-contain')")
