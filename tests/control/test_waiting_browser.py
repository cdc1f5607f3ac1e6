"""The waiting room in headless Chromium and Firefox against the real server (`consult-sfu serve`).

A client waits (early), the practitioner sees them in the queue panel and admits them,
video flows both ways, ending shows the post-consultation message; after a forced start
a late client lands in the consultation directly; a guest waits until the client is in.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from control.apikeys import cli_create
from control.store import StoreConfig
from tests.browser.conftest import free_port, stop_server, wait_healthy
from tests.browser.engine import BrowserPage, Engine
from tests.browser.pages import wait_media_flowing

SECRET = "waiting-browser-secret-0123456789abcdef"
pytestmark = [pytest.mark.browser, pytest.mark.long]


@dataclass(frozen=True)
class Platform:
    """The server plus an API key: what the scheduling platform has."""

    base_url: str
    key: str

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.base_url + path,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read() or b"null")

    def room(self, starts_in_s: float, **extra: Any) -> str:
        now = time.time()
        body = {
            "kind": "appointment",
            "practitioner": {"identity": "dr", "name": "Dr Jansen"},
            "client": {"identity": "ann", "name": "Ann"},
            "starts_at": now + starts_in_s,
            "ends_at": now + starts_in_s + 1800,
            "settings": {"post_consultation_message": "Call 555-0100 for a follow-up."},
            **extra,
        }
        return str(self.call("POST", "/v1/rooms", body)["id"])

    def join_url(self, room: str, identity: str, name: str, role: str) -> str:
        issued = self.call("POST", f"/v1/rooms/{room}/tokens", {"identity": identity, "name": name, "role": role})
        return str(issued["join_url"])


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    data_dir = tmp_path_factory.mktemp("waiting-browser")
    key = cli_create("clinic", None, StoreConfig(data_dir=data_dir))
    port = free_port()
    env = dict(
        os.environ,
        CONSULT_SFU_SECRET=SECRET,
        CONSULT_SFU_ICE_HOST_ADDRESSES="127.0.0.1",
        CONSULT_SFU_DATA_DIR=str(data_dir),
        CONSULT_SFU_PUBLIC_URL=f"http://127.0.0.1:{port}",
    )
    log = open(data_dir / "server.log", "wb")  # handed to the subprocess
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "consult-sfu"), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    try:
        wait_healthy(f"http://127.0.0.1:{port}", proc)
        yield Platform(f"http://127.0.0.1:{port}", key)
    finally:
        stop_server(proc)


async def press_join(page: BrowserPage, url: str) -> None:
    await page.goto(url)
    await page.wait_for_selector("body[data-view='prejoin']", timeout_s=30)
    await page.click("#join-button")


async def test_client_waits_practitioner_admits_video_both_ways(platform: Platform, browser: Engine) -> None:
    room = platform.room(starts_in_s=600)
    client = await browser.new_page()
    doctor = await browser.new_page()
    await press_join(client, platform.join_url(room, "ann", "Ann", "client"))
    await client.wait_for_selector("body[data-view='waiting'] .wr-card", timeout_s=30)
    card = await client.text(".wr-card")
    assert "You are early" in card and "not arrived yet" in card
    await press_join(doctor, platform.join_url(room, "dr", "Dr Jansen", "practitioner"))
    entry = ".wr-entry.wr-status-on_time"
    await doctor.wait_for_selector(entry, timeout_s=30)
    assert "Ann" in await doctor.text(entry)
    colour = await doctor.evaluate("(s) => getComputedStyle(document.querySelector(s), '::before').backgroundColor", entry)
    assert colour == "rgb(48, 164, 108)"  # on time: green
    await client.wait_for("() => document.querySelector('.wr-practitioner-online') !== null", timeout_s=15, what="the practitioner shown online")
    await doctor.click(".wr-entry .wr-admit")
    await client.wait_for_selector("body[data-state='connected'][data-view='call']", timeout_s=30)
    await wait_media_flowing(client)
    await wait_media_flowing(doctor)
    assert platform.call("GET", f"/v1/rooms/{room}")["state"] == "started"
    await doctor.click(".wr-end")  # confirm() "End the consultation?": both engines accept dialogs
    await client.wait_for_selector("body[data-view='message']", timeout_s=30)
    assert "Call 555-0100 for a follow-up." in await client.text("body")
    ended = platform.call("GET", f"/v1/rooms/{room}")
    assert ended["state"] == "ended" and ended["duration_s"] > 0


async def test_forced_start_then_late_client_and_waiting_guest(platform: Platform, browser: Engine) -> None:
    room = platform.room(starts_in_s=-300, guests=[{"identity": "kim", "name": "Kim"}])
    doctor = await browser.new_page()
    guest = await browser.new_page()
    await press_join(doctor, platform.join_url(room, "dr", "Dr Jansen", "practitioner"))
    await doctor.wait_for_selector("body[data-view='call'] .wr-force", timeout_s=30)
    await press_join(guest, platform.join_url(room, "kim", "Kim", "guest"))
    await guest.wait_for_selector("body[data-view='waiting'] .wr-card[data-arrival='waiting_for_client']", timeout_s=30)
    await doctor.click(".wr-force")
    await doctor.wait_for("() => !document.querySelector('.wr-force')", timeout_s=15, what="the force-start button gone")
    assert platform.call("GET", f"/v1/rooms/{room}")["forced"] is True
    await asyncio.sleep(0.5)
    assert await guest.evaluate("() => document.body.dataset.view") == "waiting"  # no client yet
    client = await browser.new_page()
    await press_join(client, platform.join_url(room, "ann", "Ann", "client"))
    await client.wait_for_selector("body[data-state='connected'][data-view='call']", timeout_s=30)
    assert await client.count(".wr-card") == 0  # never saw the waiting room
    await guest.wait_for_selector("body[data-state='connected'][data-view='call']", timeout_s=30)
    await wait_media_flowing(client, videos=2)
