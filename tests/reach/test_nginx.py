"""nginx from Debian as the TLS terminator (issue 16, item 1): deploy/nginx/consult-sfu.conf,
started on loopback by the test; Chromium and an aiortc peer in a call through it (WSS upgrade),
and the client's address forwarded (believed from nginx only, never from the client)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path

import aiohttp
import aioice.ice
import pytest
from playwright.async_api import async_playwright

from control.tokens import join_url
from tests.browser.conftest import free_port
from tests.browser.engine_chromium import CHROMIUM, CHROMIUM_ARGS, ChromiumEngine
from tests.browser.pages import open_and_join, wait_media_flowing
from tests.reach.certs import make_self_signed
from tests.reach.nginx import running_nginx, site_for_test
from tests.reach.processes import serve
from tests.support.media import PatternVideoTrack, ToneAudioTrack
from tests.support.peer import TestPeer

pytestmark = [pytest.mark.browser, pytest.mark.long]


@pytest.fixture
def loopback_ice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda use_ipv4=True, use_ipv6=True: ["127.0.0.1"])


async def _join_from(address: str, ws_url: str, token: str, ssl_context: object, spoofed: str) -> dict[str, object]:
    """A join from a given loopback source address, with a forged X-Forwarded-For of its own."""
    connector = aiohttp.TCPConnector(local_addr=(address, 0), ssl=ssl_context)  # type: ignore[arg-type]
    async with aiohttp.ClientSession(connector=connector) as session, session.ws_connect(
        ws_url, headers={"X-Forwarded-For": spoofed}
    ) as ws:
        await ws.send_str(json.dumps({"v": 1, "type": "join", "token": token}))
        reply: dict[str, object] = json.loads((await ws.receive(timeout=20)).data)
        return reply


async def test_call_through_nginx(tmp_path: Path, loopback_ice: None) -> None:
    cert = make_self_signed(tmp_path / "tls", "proxy.test")
    https_port, http_port = free_port(), free_port()
    public = f"https://127.0.0.1:{https_port}"
    env = {"CONSULT_SFU_PUBLIC_URL": public, "CONSULT_SFU_SERVER_TRUSTED_PROXIES": "127.0.0.1"}
    async with serve(tmp_path, workers=1, env=env) as served:
        site = site_for_test(https_port, http_port, served.port, cert)
        with running_nginx(tmp_path / "nginx", site, https_port) as error_log:
            ws_url = f"wss://127.0.0.1:{https_port}/ws"
            peer = TestPeer(ws_url, served.token("proxied", "robot", "Robot"), ssl_context=cert.client_context())
            spki = f"--ignore-certificate-errors-spki-list={cert.spki_sha256_b64}"
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=[*CHROMIUM_ARGS, spki])
                engine = ChromiumEngine(browser)
                try:
                    assert (await peer.connect())["type"] == "joined"
                    await peer.publish([(PatternVideoTrack(320, 240, fps=15), "camera"), (ToneAudioTrack(), "microphone")])
                    page = await engine.new_page()
                    await open_and_join(page, join_url(public, "proxied", served.token("proxied", "carol", "Carol")))
                    assert await page.evaluate("() => location.origin") == public
                    await wait_media_flowing(page)
                    carol = await page.evaluate("() => window.consult.client.self.participant_id")
                    await peer.wait_frames(carol, "video", 10, timeout=30)
                    assert not page.errors, page.errors
                    await page.close()
                finally:
                    await peer.close()
                    await engine.close()

            # The client's own address (127.0.0.2) reaches the server, not nginx's nor a forged one.
            reply = await _join_from("127.0.0.2", ws_url, served.token("proxied", "far", "Far"), cert.client_context(), "203.0.113.9")
            assert reply["type"] == "joined", reply
            await asyncio.sleep(0.5)
            log = served.log.read_text()
            assert "participant socket from 127.0.0.2" in log, served.log_tail()
            assert "203.0.113.9" not in log
            # The page and its static files came through nginx too (the access log has them).
            access = (tmp_path / "nginx" / "access.log").read_text()
            assert '"GET /ws HTTP/1.1" 101' in access, access[-2000:]
            with contextlib.suppress(FileNotFoundError):
                assert "[emerg]" not in error_log.read_text()
