"""The engine-neutral page itself (tests/browser/engine.py) behaves the same on both engines:
errors are seen per page, pages do not share storage, scripts are awaited, waits fail clearly,
and Firefox runs on the packaged geckodriver with nothing reaching beyond loopback."""

from __future__ import annotations

import os
import time

import pytest

from tests.browser.conftest import RunningServer
from tests.browser.engine import Engine
from tests.browser.engine_firefox import FirefoxEngine, geckodriver_binary

pytestmark = pytest.mark.browser


async def test_page_basics(server: RunningServer, browser: Engine) -> None:
    first = await browser.new_page(width=800, height=600)
    second = await browser.new_page()
    for page in (first, second):
        await page.goto(f"{server.base_url}/settings")
    assert await first.evaluate("() => [window.innerWidth, window.innerHeight]") == [800, 600]
    assert await first.evaluate("(x) => new Promise((r) => setTimeout(() => r(x * 2), 50))", 21) == 42

    # A fresh context per page: storage is not shared, even on the same origin.
    await first.evaluate("() => localStorage.setItem('engine-test', 'first')")
    assert await second.evaluate("() => localStorage.getItem('engine-test')") is None

    # Console errors and uncaught exceptions, each seen on its own page only.
    await first.evaluate("() => { console.error('engine-test console error'); setTimeout(() => { throw new Error('engine-test uncaught'); }, 0); }")
    await first.wait_for("() => new Promise((r) => setTimeout(() => r(true), 300))")
    deadline = time.monotonic() + 5
    while len(first.errors) < 2 and time.monotonic() < deadline:
        await first.wait_for("() => new Promise((r) => setTimeout(() => r(true), 100))")
    assert any("engine-test console error" in e for e in first.errors), first.errors
    assert any("engine-test uncaught" in e for e in first.errors), first.errors
    assert second.errors == []

    with pytest.raises(AssertionError, match=r"timed out after 0\.5 s waiting for never"):
        await first.wait_for("() => false", timeout_s=0.5, what="never")


async def test_firefox_runs_offline_on_the_packaged_driver(server: RunningServer, firefox: FirefoxEngine) -> None:
    assert firefox.process.driver.service.path == str(geckodriver_binary())
    # Selenium's driver manager (a download) would fail to start from here.
    assert os.environ["SE_MANAGER_PATH"].startswith("/nonexistent/")
    assert os.environ["SE_OFFLINE"] == "true"
    page = await firefox.new_page()
    await page.goto(f"{server.base_url}/settings")
    started = time.monotonic()
    outcome = await page.evaluate(
        "() => fetch('http://consult-sfu-test.example/').then(() => 'reached', (e) => e.name)"
    )
    assert outcome == "TypeError", outcome  # the dead proxy refuses it
    assert time.monotonic() - started < 10
