"""Small helpers shared by the adapters: free ports, waiting for a server, run folders."""

from __future__ import annotations

import asyncio
import socket
import time

import aiohttp

from loadtest.procs import ManagedProcess
from loadtest.targets.base import TargetError


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


async def wait_http_ok(url: str, process: ManagedProcess | None, timeout_s: float = 20.0) -> None:
    """Poll ``url`` until it answers 200, the process dies, or the timeout passes."""
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            if process is not None and not process.alive():
                raise TargetError(f"server exited during start-up:\n{process.log_tail()}")
            try:
                async with http.get(url, timeout=aiohttp.ClientTimeout(total=2)) as resp:
                    if resp.status == 200:
                        return
            except (TimeoutError, aiohttp.ClientError, OSError):
                pass
            await asyncio.sleep(0.2)
    tail = process.log_tail() if process is not None else ""
    raise TargetError(f"{url} did not answer within {timeout_s:.0f} s\n{tail}")
