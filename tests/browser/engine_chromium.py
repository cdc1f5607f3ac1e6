"""Chromium through Playwright (Debian's /usr/bin/chromium): `Engine` and `BrowserPage`.

One Chromium per test (it starts in under a second), one fresh context per page.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Literal

from playwright.async_api import Browser, BrowserContext, Page, async_playwright
from playwright.async_api import TimeoutError as PlaywrightTimeout

from tests.browser.engine import BrowserPage, Engine

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--use-fake-device-for-media-stream",
    # Also answers getDisplayMedia with a fake screen (checked: without it the share prompt
    # never resolves; --auto-select-desktop-capture-source is not needed).
    "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--autoplay-policy=no-user-gesture-required",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
]


class ChromiumPage(BrowserPage):
    engine = "chromium"

    def __init__(self, page: Page) -> None:
        self.page = page  # the Playwright page, for what only Chromium tests do (routing a WebSocket)
        self._errors: list[str] = []
        page.on("console", self._on_console)
        page.on("pageerror", lambda err: self._errors.append(f"uncaught: {err}"))
        page.on("dialog", lambda dialog: dialog.accept())

    def _on_console(self, msg: Any) -> None:
        if msg.type in ("error", "warning"):
            print(f"[chromium console {msg.type}] {msg.text}")
        if msg.type == "error":
            self._errors.append(msg.text)

    async def goto(self, url: str) -> None:
        await self.page.goto(url)

    async def evaluate(self, js: str, arg: Any = None) -> Any:
        return await self.page.evaluate(js, arg)

    async def wait_for(self, js: str, arg: Any = None, *, timeout_s: float = 30.0, what: str = "") -> Any:
        try:
            handle = await self.page.wait_for_function(js, arg=arg, timeout=timeout_s * 1000, polling=100)
        except PlaywrightTimeout:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what or js.strip()}") from None
        return await handle.json_value()

    async def click(self, selector: str, *, timeout_s: float = 30.0) -> None:
        await self.page.click(selector, timeout=timeout_s * 1000)

    async def select(self, selector: str, value: str) -> None:
        await self.page.select_option(selector, value)

    async def press(self, key: Literal["Escape", "Enter", "Tab"]) -> None:
        await self.page.keyboard.press(key)

    async def screenshot(self, path: Path | str, *, full_page: bool = False) -> None:
        await self.page.screenshot(path=str(path), full_page=full_page)

    @property
    def errors(self) -> list[str]:
        return list(self._errors)

    async def close(self) -> None:
        with contextlib.suppress(Exception):  # already closed with its browser
            await self.page.context.close()


class ChromiumEngine(Engine):
    name = "chromium"

    def __init__(self, browser: Browser) -> None:
        self.browser = browser
        self._contexts: list[BrowserContext] = []

    async def new_page(self, *, width: int = 1280, height: int = 720) -> ChromiumPage:
        context = await self.browser.new_context(viewport={"width": width, "height": height})
        self._contexts.append(context)
        return ChromiumPage(await context.new_page())

    async def close(self) -> None:
        await self.browser.close()


@contextlib.asynccontextmanager
async def chromium_engine() -> AsyncIterator[ChromiumEngine]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        engine = ChromiumEngine(browser)
        try:
            yield engine
        finally:
            await engine.close()
