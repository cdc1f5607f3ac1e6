"""Waiting in a test for something that happens asynchronously: poll, bounded, named."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def until(
    predicate: Callable[[], object],
    timeout: float = 10.0,
    what: str = "condition",
    interval: float = 0.05,
) -> None:
    """Return once ``predicate()`` is true; fail naming ``what`` after ``timeout`` seconds.

    The predicate is checked once more at the deadline, so a slow last poll does not fail a
    condition that did come true."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(interval)
