"""Chat, links and files on the room page, in Chromium and Firefox, against `consult-sfu serve`.

A client waiting (early) writes to the practice; the practitioner sees the unread count on
the chat button and on the person's queue entry, opens their thread and answers; once
admitted the client finds that conversation in the call's chat. Inside, what people write
is shown as text (an HTML payload stays literal and runs nothing), a shared address is a
link that opens in a new context without a referrer, and a file sent from one page is
downloaded byte for byte by the other.
"""

from __future__ import annotations

import os

import aiohttp
import pytest

from tests.browser.engine import BrowserPage, Engine
from tests.control.test_waiting_browser import Platform, platform, press_join  # noqa: F401  (the server fixture)

pytestmark = [pytest.mark.browser, pytest.mark.long]

XSS = '<img src=x onerror="window.__xss = 1">'
TYPE_JS = """([text]) => { const box = document.querySelector('#chat-input'); box.value = text; }"""
MESSAGES_JS = """() => [...document.querySelectorAll('.chat-messages .chat-message')].map((m) => m.innerText)"""
# Choose a file in the chat's file input, as the file picker would.
CHOOSE_FILE_JS = """([name, bytes]) => {
  const input = document.querySelector('#chat-file');
  const data = new DataTransfer();
  data.items.add(new File([new Uint8Array(bytes)], name, { type: 'image/png' }));
  input.files = data.files;
  input.dispatchEvent(new Event('change'));
}"""


async def write(page: BrowserPage, text: str) -> None:
    await page.evaluate(TYPE_JS, [text])
    await page.click("#chat-send")


async def shown_with(page: BrowserPage, text: str) -> None:
    await page.wait_for(
        "(t) => [...document.querySelectorAll('.chat-messages .chat-message')].some((m) => m.innerText.includes(t))",
        text,
        timeout_s=20,
        what=f"a chat message with {text!r}",
    )


async def test_chat_from_the_waiting_room_into_the_call_with_links_and_files(platform: Platform, browser: Engine) -> None:
    room = platform.room(starts_in_s=600)
    client = await browser.new_page(width=390, height=800)  # a phone
    doctor = await browser.new_page()
    await press_join(doctor, platform.join_url(room, "dr", "Dr Jansen", "practitioner"))
    await doctor.wait_for_selector("body[data-view='call']", timeout_s=30)
    await press_join(client, platform.join_url(room, "ann", "Ann", "client"))
    await client.wait_for_selector("body[data-view='waiting'] .wr-card", timeout_s=30)
    await client.wait_for_selector("#waiting-view #chat-box", timeout_s=10)

    # --- waiting: the client writes, the practitioner sees it unread and answers
    await write(client, "Hello, my camera may not work")
    await doctor.wait_for_selector(".wr-entry .chat-queue-button[data-unread='1']", timeout_s=20)
    assert await doctor.attribute("#btn-chat", "data-unread") == "1"
    await doctor.click(".wr-entry .chat-queue-button")
    await shown_with(doctor, "my camera may not work")
    assert await doctor.attribute("#btn-chat", "data-unread") == "0"
    await write(doctor, "We will check it together")
    await shown_with(client, "We will check it together")

    # --- admitted: the conversation is in the call's chat
    await doctor.click(".wr-entry .wr-admit")
    await client.wait_for_selector("body[data-view='call']", timeout_s=30)
    await client.click("#btn-chat")
    await shown_with(client, "my camera may not work")
    await shown_with(client, "We will check it together")

    # --- text stays text
    await doctor.select("#chat-thread", "consultation")
    await write(client, XSS)
    await shown_with(doctor, XSS)
    assert await doctor.count(".chat-messages img") == 0
    assert await doctor.evaluate("() => window.__xss === undefined")
    assert await client.evaluate("() => window.__xss === undefined")

    # --- a link is a link (http/https only), opened without a referrer
    await write(doctor, "https://docs.example.org/shared-notes")
    await client.wait_for_selector("a.chat-link", timeout_s=20)
    assert await client.attribute("a.chat-link", "href") == "https://docs.example.org/shared-notes"
    assert await client.attribute("a.chat-link", "rel") == "noopener noreferrer"
    assert await client.attribute("a.chat-link", "target") == "_blank"
    await write(doctor, "javascript:alert(1)")
    await shown_with(client, "javascript:alert(1)")
    assert await client.count("a.chat-link") == 1

    # --- a file: sent from the client's page, downloaded by the practitioner's
    picture = b"\x89PNG\r\n\x1a\n" + os.urandom(3000)
    await client.evaluate(CHOOSE_FILE_JS, ["scan.png", list(picture)])
    await doctor.wait_for_selector(".chat-file-link", timeout_s=20)
    assert "scan.png" in await doctor.text(".chat-file-link")
    # What the browser would save is read here instead: the link the page follows.
    await doctor.evaluate("() => { window.__followed = []; HTMLAnchorElement.prototype.click = function () { window.__followed.push(this.href); }; }")
    await doctor.click(".chat-download")
    href = await doctor.wait_for("() => window.__followed[0]", timeout_s=20, what="the download link")
    async with aiohttp.ClientSession() as http, http.get(href) as resp:
        assert resp.status == 200 and await resp.read() == picture
    assert not client.errors and not doctor.errors, (client.errors, doctor.errors)
