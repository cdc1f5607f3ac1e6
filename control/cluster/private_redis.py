"""A node's own redis-server, for ``serve --workers N`` (N > 1) when no Redis is configured.

Started by the supervisor from the Debian package's binary: listening on a unix socket in a
private temporary folder (mode 0700, no TCP port), nothing persisted (``--save ""
--appendonly no``: rooms, queues and placements of the embedded default live as long as
the node, as with the memory store; API keys stay in ``<data_dir>/apikeys.json``). It runs
in a session of its own (a Ctrl-C on ``make run`` reaches the supervisor, which drains the
workers before stopping it) and dies with the supervisor (parent-death signal). Stopped
and its folder removed when the node stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import shutil
import signal
import tempfile
import time
from pathlib import Path

log = logging.getLogger(__name__)

START_TIMEOUT_S = 10.0
_PR_SET_PDEATHSIG = 1


class PrivateRedisError(Exception):
    """The private redis-server could not be started; the message says why and what to do."""


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """Ask the kernel to send ``sig`` to this process when its parent dies (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)


class PrivateRedis:
    def __init__(self, binary: str = "redis-server") -> None:
        self.binary = binary
        self.folder: Path | None = None
        self.process: asyncio.subprocess.Process | None = None

    @property
    def socket_path(self) -> Path:
        assert self.folder is not None
        return self.folder / "redis.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}?db=0"

    async def start(self) -> None:
        path = shutil.which(self.binary)
        if path is None:
            raise PrivateRedisError(
                f"serve --workers N (N > 1) needs {self.binary!r} (Debian package redis-server) to share rooms"
                " between its workers; install it, configure store.backend = \"redis\", or use --workers 1"
            )
        if self.folder is None:
            self.folder = Path(tempfile.mkdtemp(prefix="consult-sfu-redis-"))
        self.socket_path.unlink(missing_ok=True)
        argv = [
            path, "--port", "0", "--unixsocket", str(self.socket_path), "--unixsocketperm", "700",
            "--save", "", "--appendonly", "no", "--dir", str(self.folder), "--daemonize", "no",
            "--loglevel", "warning", "--logfile", "",
        ]
        self.process = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
            start_new_session=True, preexec_fn=die_with_parent,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.returncode is not None:
                err = await self.process.stderr.read() if self.process.stderr else b""
                raise PrivateRedisError(
                    f"redis-server exited at start ({self.process.returncode}): {err.decode(errors='replace').strip()[:300]}"
                )
            if await self.ping():
                log.debug("private redis-server ready at %s", self.socket_path)
                return
            await asyncio.sleep(0.02)
        await self.stop()
        raise PrivateRedisError(f"redis-server did not answer on {self.socket_path} within {START_TIMEOUT_S:.0f} s")

    async def ping(self) -> bool:
        try:
            reader, writer = await asyncio.open_unix_connection(str(self.socket_path))
        except OSError:
            return False
        try:
            writer.write(b"PING\r\n")
            await writer.drain()
            return (await asyncio.wait_for(reader.readline(), 1.0)).startswith(b"+PONG")
        except (OSError, TimeoutError):
            return False
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 2.0)
            except TimeoutError:
                process.kill()
                await process.wait()
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None
