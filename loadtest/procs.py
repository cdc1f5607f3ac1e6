"""Server processes the tester starts: own process group, optional CPU pinning, sure cleanup.

Each process is started in a new session (its own process group) so stopping it also
stops anything it forked. Every live process is in a registry that an ``atexit`` hook
empties, so even an unexpected exit does not leave a server behind.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

_live: dict[int, subprocess.Popen[bytes]] = {}


class ProcessError(Exception):
    """A server process could not be started or died early."""


def _kill_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


@atexit.register
def _emergency_cleanup() -> None:
    for pid, proc in list(_live.items()):
        _kill_group(pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            proc.wait(timeout=2)
        _live.pop(pid, None)


class ManagedProcess:
    def __init__(
        self, argv: Sequence[str], *, log_path: Path, env: Mapping[str, str] | None = None,
        cpu: int | None = None,
    ) -> None:
        # taskset (not sched_setaffinity after the start) so every thread inherits the CPU.
        self.argv = (["taskset", "-c", str(cpu)] if cpu is not None else []) + list(argv)
        self.env = dict(env) if env is not None else None
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def start(self) -> int:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log:
            try:
                self.proc = subprocess.Popen(
                    self.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    env=self.env, start_new_session=True,
                )
            except OSError as exc:
                raise ProcessError(f"cannot start {self.argv[0]}: {exc}") from None
        _live[self.proc.pid] = self.proc
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    async def stop(self, timeout_s: float = 5.0) -> None:
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            _kill_group(proc.pid, signal.SIGTERM)
            for _ in range(int(timeout_s / 0.05)):
                if proc.poll() is not None:
                    break
                await asyncio.sleep(0.05)
            else:
                _kill_group(proc.pid, signal.SIGKILL)
                await asyncio.to_thread(proc.wait, 5)
        _kill_group(proc.pid, signal.SIGKILL)  # stragglers of the group, if any
        _live.pop(proc.pid, None)
