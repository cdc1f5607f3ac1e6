"""Fixtures for the browser tests: the real server as a subprocess, headless Chromium and Firefox.

The server is `consult-sfu serve --workers 1` on a free loopback port with its own secret and
127.0.0.1 as the ICE host address: one process, what the browser meets either way (a node's
workers and the forwarding between them are tests/cluster's), at half the start-up cost. To debug against a server you started yourself,
set CONSULT_SFU_TEST_URL (e.g. http://127.0.0.1:8080) and CONSULT_SFU_SECRET.

The browser fixtures (`browser`, `chromium`, `firefox`) are in tests/browser/fixtures.py,
registered for the whole test tree by tests/conftest.py.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from control.tokens import join_url, mint
from tests.browser.engine_chromium import CHROMIUM, CHROMIUM_ARGS

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "SECRET", "RunningServer", "free_port", "start_server", "stop_server", "wait_healthy"]

SECRET = "browser-tests-secret-0123456789abcdef"


@dataclass(frozen=True)
class RunningServer:
    """Where the server under test listens and how to make join links for it."""

    base_url: str
    secret: str

    def token(self, room: str, identity: str, name: str | None = None, role: str = "client") -> str:
        return mint(self.secret, room=room, identity=identity, name=name, role=role, ttl_s=600)

    def join_url(self, room: str, identity: str, name: str | None = None, role: str = "client") -> str:
        return join_url(self.base_url, room, self.token(room, identity, name, role))

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http://", "ws://") + "/ws"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(base_url: str, proc: subprocess.Popen[bytes] | None, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"consult-sfu serve exited with {proc.returncode}{_log_tail(proc)}")
        try:
            with urllib.request.urlopen(f"{base_url}/healthz", timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"consult-sfu did not become healthy at {base_url} within {timeout_s} s")


_LOGS: dict[int, Path] = {}


def _log_tail(proc: subprocess.Popen[bytes]) -> str:
    path = _LOGS.get(proc.pid)
    if path is None or not path.exists():
        return ""
    lines = path.read_text(errors="replace").splitlines()[-15:]
    return ":\n" + "\n".join(lines)


def start_server(port: int, log_path: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ, CONSULT_SFU_SECRET=SECRET, CONSULT_SFU_ICE_HOST_ADDRESSES="127.0.0.1")
    binary = Path(sys.executable).parent / "consult-sfu"
    log = open(log_path, "wb")
    try:
        proc = subprocess.Popen(
            [str(binary), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    finally:
        log.close()
    _LOGS[proc.pid] = log_path
    return proc


def stop_server(proc: subprocess.Popen[bytes], grace_s: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after ``grace_s`` (any process the tests start)."""
    proc.terminate()
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def server() -> Iterator[RunningServer]:
    external = os.environ.get("CONSULT_SFU_TEST_URL")
    if external:
        base = external.rstrip("/")
        wait_healthy(base, None, timeout_s=5)
        yield RunningServer(base_url=base, secret=os.environ["CONSULT_SFU_SECRET"])
        return
    port = free_port()
    log_path = Path(tempfile.gettempdir()) / f"consult-sfu-browser-tests-{port}.log"
    proc = start_server(port, log_path)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", proc)
        yield RunningServer(base_url=f"http://127.0.0.1:{port}", secret=SECRET)
    finally:
        stop_server(proc)
