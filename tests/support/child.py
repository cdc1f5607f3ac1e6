"""Stopping the test's helper processes (peers and relays in network namespaces), which stop by
themselves when their stdin closes."""

from __future__ import annotations

import asyncio


async def end_child(proc: asyncio.subprocess.Process, timeout_s: float = 5.0) -> None:
    """Closes ``proc``'s stdin and waits for it to stop; kills it after ``timeout_s``."""
    if proc.stdin is not None:
        proc.stdin.close()
    try:
        await asyncio.wait_for(proc.wait(), timeout_s)
    except TimeoutError:
        proc.kill()
        await proc.wait()
