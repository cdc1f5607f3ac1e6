"""A ``consult-sfu serve --workers 1`` process of a given executable (blocking helpers: call
them through ``asyncio.to_thread``)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.browser.conftest import stop_server
from tests.chat.processes import ServerProcess


class Served(ServerProcess):
    """The chat tests' server process, with what the packaging tests also look at."""

    def children(self) -> list[str]:
        return Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()

    def stop(self) -> None:
        stop_server(self.proc, grace_s=30)


def start(binary: str, port: int, env: dict[str, str], log: Path, cwd: Path | None = None) -> Served:
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [binary, "serve", "--workers", "1", "--port", str(port)], cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    return Served(proc, port, log)
