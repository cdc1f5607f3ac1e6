"""Debian's coturn, started by a test on loopback with the shared-secret REST scheme."""

from __future__ import annotations

import contextlib
import random
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.browser.conftest import free_port

TURNSERVER = shutil.which("turnserver") or "/usr/bin/turnserver"
REALM = "consult.test"


@dataclass(frozen=True)
class Coturn:
    port: int
    secret: str
    log: Path

    @property
    def url(self) -> str:
        return f"turn:127.0.0.1:{self.port}?transport=udp"


@contextlib.contextmanager
def running_coturn(folder: Path, secret: str) -> Iterator[Coturn]:
    """turnserver on 127.0.0.1 only (listening and relaying), loopback peers allowed, no TLS, no CLI."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    low = random.randrange(50000, 60000, 100)
    log = folder / "turnserver.log"
    argv = [
        TURNSERVER, "-n", "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1", f"--listening-port={port}",
        f"--realm={REALM}", "--use-auth-secret", f"--static-auth-secret={secret}",
        "--no-tls", "--no-dtls", "--no-cli", "--allow-loopback-peers", "--no-multicast-peers",
        f"--min-port={low}", f"--max-port={low + 99}", f"--userdb={folder / 'turndb'}",
        f"--pidfile={folder / 'turnserver.pid'}", f"--log-file={log}", "--simple-log", "--no-stdout-log", "--verbose",
    ]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"turnserver exited with {proc.returncode}: {_tail(log)}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break  # it listens on TCP and UDP together
            if time.monotonic() > deadline:
                raise RuntimeError(f"turnserver does not listen on {port}: {_tail(log)}")
            time.sleep(0.1)
        yield Coturn(port, secret, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def _tail(log: Path) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-20:]) if log.exists() else "(no log)"
