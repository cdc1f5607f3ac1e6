"""Shared fixtures: the real server in-process, and a guard against blocking the event loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.fixtures import browser, chromium, firefox, firefox_process  # noqa: F401  (fixtures for every folder)
from tests.support.server import RunningServer, running_server

# What the watchdog counts as blocked also includes the test process's own work that cannot
# be told apart from the server's: its in-process aiortc peers' codec threads holding the GIL,
# a test's first import of a heavy library (schemathesis, hypothesis). On this 2-core machine
# that measured up to ~1.0 s in full runs (0.53-1.02 s in four tests of 1,046, a different
# four each run); a real blocking call in the server (a synchronous HTTP or Redis call, a
# model load on the loop) is seconds.
BLOCKING_LIMIT_S = 1.5


@pytest.fixture
async def server(tmp_path: Any) -> AsyncIterator[RunningServer]:
    async with running_server(tmp_path) as running:
        yield running


def _run_queue_seconds() -> float:
    """Time this thread has spent runnable but waiting for a CPU (Linux schedstat)."""
    try:
        with open("/proc/thread-self/schedstat") as fh:
            return int(fh.read().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return 0.0


@pytest.fixture(autouse=True)
async def no_blocking_event_loop(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Fail an async test whose event loop was blocked for more than BLOCKING_LIMIT_S."""
    if not asyncio.iscoroutinefunction(getattr(request, "function", None)):
        yield
        return
    worst = 0.0
    stop = False

    async def watch() -> None:
        # A loop that waited for a CPU (a busy machine) is not a blocked loop: the
        # lateness of a wake-up minus the time the thread spent on the run queue
        # (/proc schedstat) is what our code spent running or blocking without yielding.
        nonlocal worst
        interval = 0.05
        while not stop:
            start, queued = time.monotonic(), _run_queue_seconds()
            await asyncio.sleep(interval)
            late = time.monotonic() - start - interval
            worst = max(worst, late - (_run_queue_seconds() - queued))

    task = asyncio.create_task(watch())
    yield
    stop = True
    await task
    if worst > BLOCKING_LIMIT_S and not request.node.get_closest_marker("allow_blocking"):
        pytest.fail(f"the event loop was blocked for {worst:.2f} s (limit {BLOCKING_LIMIT_S} s)")


#: Folders whose tests each keep a core busy (browsers, speech recognition, several server
#: processes, network namespaces). When the first phase of `make test` runs on two pytest-xdist
#: workers (`--dist loadgroup`), they all go to one of them, so that two never run side by side
#: on this 2-core machine (two browsers at once missed UI waits); the other tests share both.
HEAVY_FOLDERS = frozenset({"browser", "captions", "captions_e2e", "effects_e2e", "cluster", "reach"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    tests = Path(__file__).parent
    for item in items:
        folder = item.path.relative_to(tests).parts[0]
        if folder in HEAVY_FOLDERS or item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.xdist_group("heavy"))
