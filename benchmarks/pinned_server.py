"""``consult-sfu serve`` as one worker pinned to CPU 0, for the benchmarks that drive it from
CPU 1 (forwarding.py, adaptation.py): the figures are one process's, as docs/performance.md
describes them (``serve`` alone starts a worker per CPU since the cluster work)."""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PinnedServer:
    proc: subprocess.Popen[str]
    port: int
    secret: str
    #: what the server printed, once it has stopped
    output: str = ""


@contextlib.contextmanager
def pinned_server(prefix: str, launcher: Sequence[str] = (), **settings: str) -> Iterator[PinnedServer]:
    """The server on a free port with a fresh secret and data folder; ``settings`` are
    ``CONSULT_SFU_<NAME>`` values (e.g. ``log_level="WARNING"``). ``launcher``: the program
    given ``serve ...`` (default the installed ``consult-sfu``). Stopped at the end."""
    program = list(launcher) or [str(ROOT / ".venv/bin/consult-sfu")]
    port, secret = free_port(), secrets.token_hex(32)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSULT_SFU_")}
    data_dir = tempfile.mkdtemp(prefix=f"{prefix}-data-")
    env.update(CONSULT_SFU_SECRET=secret, CONSULT_SFU_DATA_DIR=data_dir)
    env.update({f"CONSULT_SFU_{name.upper()}": value for name, value in settings.items()})
    proc = subprocess.Popen(
        ["taskset", "-c", "0", *program, "serve", "--port", str(port), "--workers", "1"],
        cwd=data_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    server = PinnedServer(proc, port, secret)
    lines: list[str] = []
    # Read all along: a server logging more than a pipe holds (DEBUG) would block on its writes.
    drain = threading.Thread(target=lambda: lines.extend(proc.stdout or ()), daemon=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if "serving on" not in line:
            raise SystemExit(f"server did not start: {line}")
        drain.start()
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if drain.is_alive():
            drain.join(timeout=5)
        server.output = "".join(lines)
