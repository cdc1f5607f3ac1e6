"""Shared fixtures: the real server in-process, and a guard against blocking the event loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.support.server import RunningServer, running_server

BLOCKING_LIMIT_S = 0.5


@pytest.fixture
async def server(tmp_path: Any) -> AsyncIterator[RunningServer]:
    async with running_server(tmp_path) as running:
        yield running


@pytest.fixture(autouse=True)
async def no_blocking_event_loop(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Fail an async test whose event loop was blocked for more than BLOCKING_LIMIT_S."""
    if not asyncio.iscoroutinefunction(getattr(request, "function", None)):
        yield
        return
    worst = 0.0
    stop = False

    async def watch() -> None:
        # A loop that was not scheduled (a busy machine) is not a blocked loop: count the
        # CPU time the loop's thread spent between two wake-ups, i.e. code that ran
        # without yielding, and only when the wake-up was late as well.
        nonlocal worst
        interval = 0.05
        while not stop:
            start, cpu_start = time.monotonic(), time.thread_time()
            await asyncio.sleep(interval)
            late = time.monotonic() - start - interval
            busy = time.thread_time() - cpu_start
            worst = max(worst, min(late, busy))

    task = asyncio.create_task(watch())
    yield
    stop = True
    await task
    if worst > BLOCKING_LIMIT_S and not request.node.get_closest_marker("allow_blocking"):
        pytest.fail(f"the event loop was blocked for {worst:.2f} s (limit {BLOCKING_LIMIT_S} s)")
