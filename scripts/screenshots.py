"""Regenerate the screenshots in docs/screenshots/ (`make screenshots`).

Starts `consult-sfu serve` on a free loopback port, joins headless Chromium pages with
fake camera and microphone, and photographs: a 1:1 room, a room with 4 participants,
the room on a phone-sized screen, and the settings page after a network test.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.async_api import Browser, Page, async_playwright  # noqa: E402

from tests.browser.conftest import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    SECRET,
    RunningServer,
    free_port,
    start_server,
    stop_server,
    wait_healthy,
)
from tests.browser.pages import new_page, open_and_join, wait_media_flowing, wait_visible_picture  # noqa: E402

PEOPLE = [
    ("dr-martin", "Dr Claire Martin", "practitioner"),
    ("jean", "Jean Dupont", "client"),
    ("sophie", "Sophie Dupont", "guest"),
    ("interpreter", "Amal Haddad", "guest"),
]


async def settle(page: Page, videos: int) -> None:
    await wait_media_flowing(page, videos=videos, timeout_s=60)
    await wait_visible_picture(page, timeout_s=30)
    await asyncio.sleep(1.5)  # let the layout transition and the clock tick


async def one_to_one(browser: Browser, server: RunningServer, out: Path) -> None:
    pages = []
    for identity, name, role in PEOPLE[:2]:
        page = await new_page(browser, width=1280, height=720)
        await open_and_join(page, server.join_url("screenshot-1to1", identity, name, role))
        pages.append(page)
    await settle(pages[0], 1)
    await pages[0].screenshot(path=str(out / "room-1to1.png"))
    print("room-1to1.png")
    # The same call on a phone held upright.
    phone = await new_page(browser, width=390, height=844)
    await pages[1].context.close()
    await open_and_join(phone, server.join_url("screenshot-1to1", "jean-phone", "Jean Dupont", "client"))
    await settle(phone, 1)
    await phone.screenshot(path=str(out / "room-phone.png"))
    print("room-phone.png")
    for page in (pages[0], phone):
        await page.context.close()


async def four(browser: Browser, server: RunningServer, out: Path) -> None:
    pages = []
    for identity, name, role in PEOPLE:
        page = await new_page(browser, width=1280, height=720)
        await open_and_join(page, server.join_url("screenshot-4", identity, name, role))
        pages.append(page)
    await settle(pages[0], 3)
    await pages[0].screenshot(path=str(out / "room-4.png"))
    print("room-4.png")
    for page in pages:
        await page.context.close()


async def settings(browser: Browser, server: RunningServer, out: Path) -> None:
    page = await new_page(browser, width=1280, height=900)
    await page.goto(f"{server.base_url}/settings")
    await page.wait_for_function("() => document.getElementById('settings-preview').videoWidth > 0", timeout=30000)
    await page.click("#echo-start")
    await page.wait_for_selector("#echo-verdict:not([data-verdict='running'])", timeout=60000)
    await page.screenshot(path=str(out / "settings.png"), full_page=True)
    print("settings.png")
    await page.context.close()


async def main(out: Path) -> None:
    port = free_port()
    log = Path(tempfile.gettempdir()) / f"consult-sfu-screenshots-{port}.log"
    proc: subprocess.Popen[bytes] = start_server(port, log)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_healthy(base, proc)
        server = RunningServer(base_url=base, secret=SECRET)
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                await one_to_one(browser, server, out)
                await four(browser, server, out)
                await settings(browser, server, out)
            finally:
                await browser.close()
    finally:
        stop_server(proc)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    target = parser.parse_args().out
    target.mkdir(parents=True, exist_ok=True)
    asyncio.run(main(target))
