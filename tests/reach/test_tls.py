"""HTTPS/WSS served by the server itself (issue 16, item 1): a self-signed certificate made by
the test; an aiortc peer and Chromium (trusting it by its key) in a call over WSS on a node of
two workers; SIGHUP with a new certificate: new connections get it, the running call goes on."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import aioice.ice
import pytest
from playwright.async_api import async_playwright

from control import config as config_module
from control.config import ConfigError
from control.tls import ReloadableTls
from tests.browser.engine_chromium import CHROMIUM, CHROMIUM_ARGS, ChromiumEngine
from tests.browser.pages import open_and_join, totals, wait_media_flowing
from tests.reach.certs import make_self_signed, served_common_name
from tests.reach.processes import SECRET, serve
from tests.support.media import PatternVideoTrack, ToneAudioTrack
from tests.support.peer import TestPeer


@pytest.fixture
def loopback_ice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        aioice.ice, "get_host_addresses", lambda use_ipv4=True, use_ipv6=True: ["127.0.0.1"]
    )


async def _common_name_becomes(port: int, name: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    seen = ""
    while time.monotonic() < deadline:
        seen = await asyncio.to_thread(served_common_name, "127.0.0.1", port)
        if seen == name:
            return
        await asyncio.sleep(0.3)
    raise AssertionError(
        f"the server still presents {seen!r}, not {name!r}, {timeout_s} s after SIGHUP"
    )


@pytest.mark.browser
@pytest.mark.long
async def test_call_over_wss_on_two_workers_survives_a_certificate_reload(
    tmp_path: Path, loopback_ice: None
) -> None:
    first = make_self_signed(tmp_path / "tls", "first.test")
    second = make_self_signed(tmp_path / "next", "second.test")  # installed later, over the first
    env = {
        "CONSULT_SFU_SERVER_TLS_CERT": str(first.cert),
        "CONSULT_SFU_SERVER_TLS_KEY": str(first.key),
    }
    async with serve(tmp_path, workers=2, env=env, tls=first.client_context()) as served:
        assert await asyncio.to_thread(served_common_name, "127.0.0.1", served.port) == "first.test"
        peer = TestPeer(
            served.ws_url,
            served.token("tls-room", "robot", "Robot"),
            ssl_context=first.client_context(),
        )
        spki = f"--ignore-certificate-errors-spki-list={first.spki_sha256_b64},{second.spki_sha256_b64}"
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=[*CHROMIUM_ARGS, spki]
            )
            engine = ChromiumEngine(browser)
            try:
                joined = await peer.connect()
                assert joined["type"] == "joined", joined
                await peer.publish(
                    [
                        (PatternVideoTrack(320, 240, fps=15), "camera"),
                        (ToneAudioTrack(), "microphone"),
                    ]
                )
                page = await engine.new_page()
                await open_and_join(page, served.join_url("tls-room", "carol", "Carol"))
                assert await page.evaluate("() => location.protocol") == "https:"
                await wait_media_flowing(page)
                carol = await page.evaluate("() => window.consult.client.self.participant_id")
                video = await peer.wait_frames(carol, "video", 10, timeout=30)

                # The new pair goes where the old one was; SIGHUP to the supervisor.
                first.cert.write_bytes(second.cert.read_bytes())
                first.key.write_bytes(second.key.read_bytes())
                before_page, before_peer = await totals(page), video.frames
                os.kill(served.proc.pid, signal.SIGHUP)
                # Each worker accepts from the one socket: ask often enough to meet both.
                await _common_name_becomes(served.port, "second.test")
                for _ in range(6):
                    assert (
                        await asyncio.to_thread(served_common_name, "127.0.0.1", served.port)
                        == "second.test"
                    )

                # The call went on: media still rising both ways, the WebSockets never closed.
                await peer.wait_frames(carol, "video", before_peer + 20, timeout=30)
                deadline = time.monotonic() + 30
                while (await totals(page))["frames"] < before_page["frames"] + 20:
                    assert time.monotonic() < deadline, (
                        "the browser's video stopped after the reload"
                    )
                    await asyncio.sleep(0.3)
                assert await page.attribute("body", "data-state") == "connected"
                assert peer.joined is joined and not [
                    m for m in peer.messages if m.get("type") == "bye"
                ]
                # A new secure connection trusting only the new certificate works.
                fresh = TestPeer(
                    served.ws_url,
                    served.token("tls-room", "late", "Late"),
                    ssl_context=second.client_context(),
                )
                try:
                    assert (await fresh.connect())["type"] == "joined"
                finally:
                    await fresh.close()
                assert not page.errors, page.errors
                await page.close()
            finally:
                await peer.close()
                await engine.close()
        assert "TLS certificate reloaded" in served.log.read_text()


@pytest.mark.long
async def test_one_worker_reloads_on_sighup_and_refuses_a_bad_pair(tmp_path: Path) -> None:
    first = make_self_signed(tmp_path / "tls", "first.test")
    second = make_self_signed(tmp_path / "next", "second.test")
    env = {
        "CONSULT_SFU_SERVER_TLS_CERT": str(first.cert),
        "CONSULT_SFU_SERVER_TLS_KEY": str(first.key),
    }
    async with serve(tmp_path, workers=1, env=env, tls=first.client_context()) as served:
        assert served.base_url.startswith("https://")
        # A broken pair (the new certificate with the old key) is refused; the old one stays.
        first.cert.write_bytes(second.cert.read_bytes())
        os.kill(served.proc.pid, signal.SIGHUP)
        deadline = time.monotonic() + 20
        while "TLS reload refused" not in served.log.read_text():
            assert time.monotonic() < deadline, served.log_tail()
            await asyncio.sleep(0.2)
        assert await asyncio.to_thread(served_common_name, "127.0.0.1", served.port) == "first.test"
        first.key.write_bytes(second.key.read_bytes())
        os.kill(served.proc.pid, signal.SIGHUP)
        await _common_name_becomes(served.port, "second.test")
        assert served.proc.poll() is None
        # The operator's commands reach the node over HTTPS by default (trusting its own certificate).
        env_cli = {
            **os.environ, **env, "CONSULT_SFU_SECRET": SECRET, "CONSULT_SFU_PORT": str(served.port),
            "CONSULT_SFU_DATA_DIR": str(tmp_path / "data"),
        }
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "control.cli", "nodes", env=env_cli, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        out, _ = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0 and "1 node(s), 1 worker(s)" in out.decode(), out.decode()
        assert "Traceback" not in served.log.read_text()


def test_tls_settings_go_together(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"server.tls_cert and server.tls_key go together"):
        config_module.load(None, env={"CONSULT_SFU_SERVER_TLS_CERT": str(tmp_path / "x.crt")})
    pair = make_self_signed(tmp_path, "a.test")
    config = config_module.load(
        None,
        env={
            "CONSULT_SFU_SERVER_TLS_CERT": str(pair.cert),
            "CONSULT_SFU_SERVER_TLS_KEY": str(pair.key),
        },
    )
    assert config.public_url.startswith("https://")


def test_unusable_files_are_named(tmp_path: Path) -> None:
    from control.cluster.serve import load_tls

    pair = make_self_signed(tmp_path, "a.test")
    missing = config_module.load(
        None,
        env={
            "CONSULT_SFU_SERVER_TLS_CERT": str(tmp_path / "nope.crt"),
            "CONSULT_SFU_SERVER_TLS_KEY": str(pair.key),
        },
    )
    with pytest.raises(ConfigError, match=r"server.tls_cert: .*nope.crt does not exist"):
        load_tls(missing)
    garbage = tmp_path / "garbage.crt"
    garbage.write_text("not a certificate\n")
    bad = config_module.load(
        None,
        env={
            "CONSULT_SFU_SERVER_TLS_CERT": str(garbage),
            "CONSULT_SFU_SERVER_TLS_KEY": str(pair.key),
        },
    )
    with pytest.raises(ConfigError, match="not a usable PEM certificate chain"):
        load_tls(bad)
    assert ReloadableTls(pair.cert, pair.key).reload() is True
