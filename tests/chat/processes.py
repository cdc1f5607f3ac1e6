"""Real ``consult-sfu serve --workers 1`` processes for the multi-process tests (shared Redis store)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from tests.control.conftest import free_port

SECRET = "chat-processes-secret-0123456789abcdef"


@dataclass
class ServerProcess:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def environment(data_dir: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSULT_SFU_")}
    env.update(
        CONSULT_SFU_SECRET=SECRET,
        CONSULT_SFU_ICE_HOST_ADDRESSES="127.0.0.1",
        CONSULT_SFU_DATA_DIR=str(data_dir),
        CONSULT_SFU_CAPTIONS_START_WORKERS="first_use",
    )
    env.update({f"CONSULT_SFU_{k.upper()}": v for k, v in settings.items()})
    return env


@contextlib.asynccontextmanager
async def serving(data_dir: Path, **settings: str) -> AsyncIterator[ServerProcess]:
    """One server process; stopped (SIGTERM, then killed) at the end."""
    port = free_port()
    log = data_dir.parent / f"serve-{port}.log"
    proc = await asyncio.to_thread(_start, data_dir, port, log, settings)
    server = ServerProcess(proc, port, log)
    try:
        await _healthy(server)
        yield server
    finally:
        proc.terminate()
        try:
            await asyncio.to_thread(proc.wait, 15)
        except subprocess.TimeoutExpired:
            proc.kill()
            await asyncio.to_thread(proc.wait, 5)


def _start(data_dir: Path, port: int, log: Path, settings: dict[str, str]) -> subprocess.Popen[bytes]:
    data_dir.mkdir(parents=True, exist_ok=True)
    binary = Path(sys.executable).parent / "consult-sfu"
    with open(log, "wb") as out:
        return subprocess.Popen(
            [str(binary), "serve", "--workers", "1", "--host", "127.0.0.1", "--port", str(port)],
            env=environment(data_dir, **settings),
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def _healthy(server: ServerProcess, timeout_s: float = 40.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    async with aiohttp.ClientSession() as http:
        while asyncio.get_running_loop().time() < deadline:
            if server.proc.poll() is not None:
                raise RuntimeError(f"consult-sfu serve exited with {server.proc.returncode}:\n{server.log_text()[-2000:]}")
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with http.get(server.http_url + "/healthz") as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(0.2)
    raise RuntimeError(f"consult-sfu serve did not become healthy:\n{server.log_text()[-2000:]}")
