"""The browser fixtures, for every test folder (tests/conftest.py registers them).

`browser` runs a test once per engine (ids `[chromium]`, `[firefox]`; `-m firefox` selects the
Firefox runs); `chromium` and `firefox` give one engine, for a test only one engine can run (it
says why) or one that needs both at once. Chromium starts per test (under a second); Firefox
once per session (9-20 s here), the first time a test needs it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

from tests.browser.engine import Engine
from tests.browser.engine_chromium import ChromiumEngine, chromium_engine
from tests.browser.engine_firefox import FirefoxEngine, FirefoxProcess


class FirefoxLauncher:
    """The session's Firefox, started (in a thread: it takes seconds) by the first test that needs it."""

    def __init__(self) -> None:
        self._process: FirefoxProcess | None = None
        self._lock = threading.Lock()  # tests of a session run in different event loops

    def _start_once(self) -> FirefoxProcess:
        with self._lock:
            if self._process is None:
                self._process = FirefoxProcess.start()
            return self._process

    async def get(self) -> FirefoxProcess:
        return await asyncio.to_thread(self._start_once)

    def quit(self) -> None:
        if self._process is not None:
            self._process.quit()
            self._process = None


@pytest.fixture(scope="session")
def firefox_process() -> Iterator[FirefoxLauncher]:
    launcher = FirefoxLauncher()
    try:
        yield launcher
    finally:
        launcher.quit()


ENGINES = ["chromium", pytest.param("firefox", marks=pytest.mark.firefox)]


@pytest_asyncio.fixture(params=ENGINES)
async def browser(request: pytest.FixtureRequest, firefox_process: FirefoxLauncher) -> AsyncIterator[Engine]:
    """The test runs once in Chromium and once in Firefox."""
    if request.param == "chromium":
        async with chromium_engine() as engine:
            yield engine
        return
    ff = FirefoxEngine(await firefox_process.get())
    try:
        yield ff
    finally:
        await ff.close()


@pytest_asyncio.fixture
async def chromium() -> AsyncIterator[ChromiumEngine]:
    async with chromium_engine() as engine:
        yield engine


@pytest_asyncio.fixture
async def firefox(firefox_process: FirefoxLauncher) -> AsyncIterator[FirefoxEngine]:
    engine = FirefoxEngine(await firefox_process.get())
    try:
        yield engine
    finally:
        await engine.close()
