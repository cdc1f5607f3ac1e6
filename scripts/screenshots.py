"""Regenerate the screenshots in docs/screenshots/ (`make screenshots`).

Starts `consult-sfu serve` on a free loopback port, joins headless Chromium pages with
fake camera and microphone, and photographs: a 1:1 room, a room with 4 participants,
the room on a phone-sized screen, the settings page after a network test, the chat panel of
a 1:1 room (a message, a shared link and a file); then the same 1:1 room seen from Firefox ESR
(a Firefox patient with a Chromium practitioner).
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

from tests.browser.conftest import (  # noqa: E402
    SECRET,
    RunningServer,
    free_port,
    start_server,
    stop_server,
    wait_healthy,
)
from tests.browser.engine import BrowserPage, Engine  # noqa: E402
from tests.browser.engine_chromium import chromium_engine  # noqa: E402
from tests.browser.engine_firefox import FirefoxEngine, FirefoxProcess  # noqa: E402
from tests.browser.pages import open_and_join, wait_media_flowing, wait_visible_picture  # noqa: E402

PEOPLE = [
    ("dr-martin", "Dr Claire Martin", "practitioner"),
    ("jean", "Jean Dupont", "client"),
    ("sophie", "Sophie Dupont", "guest"),
    ("interpreter", "Amal Haddad", "guest"),
]


async def settle(page: BrowserPage, videos: int) -> None:
    await wait_media_flowing(page, videos=videos, timeout_s=60)
    await wait_visible_picture(page, timeout_s=30)
    await asyncio.sleep(1.5)  # let the layout transition and the clock tick


async def one_to_one(browser: Engine, server: RunningServer, out: Path) -> None:
    pages = []
    for identity, name, role in PEOPLE[:2]:
        page = await browser.new_page(width=1280, height=720)
        await open_and_join(page, server.join_url("screenshot-1to1", identity, name, role))
        pages.append(page)
    await settle(pages[0], 1)
    await pages[0].screenshot(out / "room-1to1.png")
    print("room-1to1.png")
    # The same call on a phone held upright.
    phone = await browser.new_page(width=390, height=844)
    await pages[1].close()
    await open_and_join(phone, server.join_url("screenshot-1to1", "jean-phone", "Jean Dupont", "client"))
    await settle(phone, 1)
    await phone.screenshot(out / "room-phone.png")
    print("room-phone.png")
    for page in (pages[0], phone):
        await page.close()


async def four(browser: Engine, server: RunningServer, out: Path) -> None:
    pages = []
    for identity, name, role in PEOPLE:
        page = await browser.new_page(width=1280, height=720)
        await open_and_join(page, server.join_url("screenshot-4", identity, name, role))
        pages.append(page)
    await settle(pages[0], 3)
    await pages[0].screenshot(out / "room-4.png")
    print("room-4.png")
    for page in pages:
        await page.close()


async def settings(browser: Engine, server: RunningServer, out: Path) -> None:
    page = await browser.new_page(width=1280, height=900)
    await page.goto(f"{server.base_url}/settings")
    await page.wait_for("() => document.getElementById('settings-preview').videoWidth > 0", timeout_s=30)
    await page.click("#echo-start")
    await page.wait_for_selector("#echo-verdict:not([data-verdict='running'])", timeout_s=60)
    await page.screenshot(out / "settings.png", full_page=True)
    print("settings.png")
    await page.close()


async def chat(browser: Engine, server: RunningServer, out: Path) -> None:
    """The chat panel open in a 1:1 room: a question, an answer with a link, a shared file."""
    doctor = await browser.new_page(width=1280, height=720)
    await open_and_join(doctor, server.join_url("screenshot-chat", *PEOPLE[0]))
    patient = await browser.new_page(width=1280, height=720)
    await open_and_join(patient, server.join_url("screenshot-chat", *PEOPLE[1]))
    await settle(patient, 1)
    await patient.click("#btn-chat")
    await doctor.click("#btn-chat")
    for page, text in [
        (patient, "Hello doctor, I have the results of my blood test."),
        (doctor, "Thank you, could you send them here?"),
    ]:
        await page.evaluate("(t) => { document.querySelector('#chat-input').value = t; }", text)
        await page.click("#chat-send")
        await patient.wait_for("(t) => document.querySelector('.chat-messages').innerText.includes(t)", text, what=text)
    await patient.evaluate("""() => {
      const input = document.querySelector('#chat-file');
      const data = new DataTransfer();
      data.items.add(new File([new Uint8Array([37, 80, 68, 70, 45, 49, 46, 55, 10, ...new Array(180000).fill(32)])], 'blood-test-results.pdf', { type: 'application/pdf' }));
      input.files = data.files;
      input.dispatchEvent(new Event('change'));
    }""")
    await patient.wait_for_selector(".chat-file-link")
    await doctor.evaluate("(t) => { document.querySelector('#chat-input').value = t; }", "https://docs.example.org/care-plan")
    await doctor.click("#chat-send")
    await patient.wait_for_selector("a.chat-link")
    await asyncio.sleep(0.5)
    await patient.screenshot(out / "room-chat.png")
    print("room-chat.png")
    await patient.close()
    await doctor.close()


async def firefox_patient(chromium: Engine, server: RunningServer, out: Path) -> None:
    """The 1:1 room as a patient on Firefox ESR sees it, the practitioner on Chromium."""
    process = await asyncio.to_thread(FirefoxProcess.start)
    try:
        firefox = FirefoxEngine(process)
        doctor = await chromium.new_page(width=1280, height=720)
        await open_and_join(doctor, server.join_url("screenshot-firefox", *PEOPLE[0]))
        patient = await firefox.new_page(width=1280, height=720)
        await open_and_join(patient, server.join_url("screenshot-firefox", *PEOPLE[1]))
        await settle(patient, 1)
        await patient.screenshot(out / "room-1to1-firefox.png")
        print(f"room-1to1-firefox.png (Firefox {process.version})")
        await firefox.close()
        await doctor.close()
    finally:
        await asyncio.to_thread(process.quit)


async def main(out: Path) -> None:
    port = free_port()
    log = Path(tempfile.gettempdir()) / f"consult-sfu-screenshots-{port}.log"
    proc: subprocess.Popen[bytes] = start_server(port, log)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_healthy(base, proc)
        server = RunningServer(base_url=base, secret=SECRET)
        async with chromium_engine() as chromium:
            await one_to_one(chromium, server, out)
            await four(chromium, server, out)
            await settings(chromium, server, out)
            await chat(chromium, server, out)
            await firefox_patient(chromium, server, out)
    finally:
        stop_server(proc)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    target = parser.parse_args().out
    target.mkdir(parents=True, exist_ok=True)
    asyncio.run(main(target))
