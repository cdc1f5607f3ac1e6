"""A ``consult-sfu serve --workers 1`` process of a given executable (blocking helpers: call
them through ``asyncio.to_thread``)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Served:
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

    def children(self) -> list[str]:
        return Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def start(binary: str, port: int, env: dict[str, str], log: Path, cwd: Path | None = None) -> Served:
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [binary, "serve", "--workers", "1", "--port", str(port)], cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    return Served(proc, port, log)
