"""Headless Chromium inside a test's network namespace (tests/reach/netns.py), driven by
Playwright from the test process.

Playwright talks to Chromium over a pipe (``--remote-debugging-pipe``: inherited file
descriptors), which crosses namespaces, so the launcher is Debian's Chromium started through
``ip netns exec``: a two-line wrapper script given as Playwright's ``executable_path``. Every
socket Chromium opens (the page, its WebSocket, both peer connections) is then the namespace's:
its only way out is the veth pair, under the namespace's nftables rules. Needs root, as the
namespace does.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from playwright.async_api import async_playwright

from tests.browser.engine_chromium import CHROMIUM, CHROMIUM_ARGS, ChromiumEngine


@contextlib.asynccontextmanager
async def chromium_in_namespace(ns_name: str, folder: Path, origin: str) -> AsyncIterator[ChromiumEngine]:
    """One Chromium in ``ns_name``; its launcher script is written into ``folder``. ``origin``
    (the server's http://address:port on the veth) counts as secure: getUserMedia, which the
    page needs for its camera, is only offered to secure origins, and only loopback ones are
    secure over plain HTTP."""
    launcher = folder / "chromium-in-netns"
    launcher.write_text(f'#!/bin/sh\nexec ip netns exec {ns_name} {CHROMIUM} "$@"\n')
    launcher.chmod(0o755)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=str(launcher), headless=True, args=[*CHROMIUM_ARGS, f"--unsafely-treat-insecure-origin-as-secure={origin}"]
        )
        engine = ChromiumEngine(browser)
        try:
            yield engine
        finally:
            await engine.close()
