"""The waiting-room screens (control/static/js/waiting.js) rendered in headless Chromium."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

STATIC = Path(__file__).resolve().parents[2] / "control" / "static"
CHROMIUM = "/usr/bin/chromium"
HAVE_CHROMIUM = os.path.exists(CHROMIUM)

PAGE = """<!doctype html><html><head>
<link rel="stylesheet" href="/static/css/room.css"><link rel="stylesheet" href="/static/css/waiting.css">
</head><body><div id="waiting"></div><aside id="panel"></aside>
<script type="module">
import { QueuePanel, WaitingScreen, arrival } from '/static/js/waiting.js';
const sent = [];
window.sent = sent;
const now = Date.now() / 1000;
const panel = new QueuePanel(document.getElementById('panel'), {
  admit: (id) => sent.push(['admit', id]), deny: (id, m) => sent.push(['deny', id, m]),
  forceStart: () => sent.push(['force_start']), end: () => sent.push(['end']),
  setAvailable: (on) => sent.push(['availability', on]),
});
panel.update({ room: 'r1', state: 'scheduled', available: null, entries: [
  { participant_id: 'p1', name: 'Ann', status: 'on_time', appointment_at: now + 600, waiting_since: now - 120, role: 'client', identity: 'a', room: 'r1' },
  { participant_id: 'p2', name: 'Bob', status: 'late', appointment_at: now - 600, waiting_since: now - 60, role: 'client', identity: 'b', room: 'r1' },
  { participant_id: 'p3', name: 'Cy', status: 'walk_in', appointment_at: null, waiting_since: now - 30, role: 'client', identity: 'c', room: 'r1' },
  { participant_id: 'p4', name: 'Gus', status: 'waiting_for_client', appointment_at: now, waiting_since: now, role: 'guest', identity: 'g', room: 'r1' },
]});
const screen = new WaitingScreen(document.getElementById('waiting'));
screen.update({ status: 'on_time', practitioner_status: 'online', server_time: now, appointment_at: now + 1800,
  waiting_since: now - 300, announcements: [{ id: 'a1', text: 'Running 10 min late', created_at: now, expires_at: null, scope: 'room' },
  { id: 'a2', text: 'old news', created_at: now - 99, expires_at: now - 1, scope: 'department' }] });
window.arrivalLate = arrival({ status: 'late', server_time: now }).key;
window.ready = true;
</script></body></html>"""


@pytest.fixture
async def page_url() -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_static("/static", STATIC)

    async def test_page(_: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html")

    app.router.add_get("/t.html", test_page)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("/t.html"))
    finally:
        await server.close()


@pytest.mark.browser
async def test_queue_colours_actions_and_waiting_screen(page_url: str) -> None:
    if not HAVE_CHROMIUM:
        pytest.fail("chromium is not installed (Debian package chromium)")
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=["--headless=new", "--no-sandbox", "--disable-gpu"])
        try:
            page = await browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(page_url)
            await page.wait_for_function("window.ready === true")
            colours = await page.evaluate(
                """() => [...document.querySelectorAll('.wr-entry')].map(
                    (e) => [e.dataset.participantId, getComputedStyle(e, '::before').backgroundColor])"""
            )
            assert colours[:3] == [
                ["p1", "rgb(48, 164, 108)"],  # on time: green
                ["p2", "rgb(229, 72, 77)"],  # late: red
                ["p3", "rgb(245, 217, 10)"],  # walk-in: yellow
            ]
            assert await page.is_disabled("li[data-participant-id=p4] .wr-admit")
            await page.click("li[data-participant-id=p2] .wr-admit")
            page.once("dialog", lambda d: d.accept("Please call us"))
            await page.click("li[data-participant-id=p1] .wr-deny")
            await page.click(".wr-force")
            assert await page.evaluate("window.sent") == [
                ["admit", "p2"],
                ["deny", "p1", "Please call us"],
                ["force_start"],
            ]
            text = await page.inner_text("#waiting")
            assert "You are early" in text and "Running 10 min late" in text and "old news" not in text
            assert "Your practitioner is here" in text
            assert await page.evaluate("window.arrivalLate") == "late"
            assert errors == []
        finally:
            await browser.close()
