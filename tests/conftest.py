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
        nonlocal worst
        interval = 0.05
        while not stop:
            start = time.monotonic()
            await asyncio.sleep(interval)
            worst = max(worst, time.monotonic() - start - interval)

    task = asyncio.create_task(watch())
    yield
    stop = True
    await task
    if worst > BLOCKING_LIMIT_S and not request.node.get_closest_marker("allow_blocking"):
        pytest.fail(f"the event loop was blocked for {worst:.2f} s (limit {BLOCKING_LIMIT_S} s)")
