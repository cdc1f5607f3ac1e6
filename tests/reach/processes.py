"""`consult-sfu serve` as a subprocess for the reachability tests (TLS, TURN, announced addresses)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from control.tokens import join_url, mint
from tests.browser.conftest import free_port, stop_server

SECRET = "reach-tests-secret-0123456789abcdef0123"


@dataclass
class Served:
    proc: subprocess.Popen[bytes]
    base_url: str
    log: Path
    ssl_context: ssl.SSLContext | None = None

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("https://", "wss://").replace("http://", "ws://") + "/ws"

    @property
    def port(self) -> int:
        return int(self.base_url.rsplit(":", 1)[1])

    def token(self, room: str, identity: str, name: str | None = None, role: str = "client") -> str:
        return mint(SECRET, room=room, identity=identity, name=name, role=role, ttl_s=600)

    def join_url(
        self, room: str, identity: str, name: str | None = None, role: str = "client"
    ) -> str:
        return join_url(self.base_url, room, self.token(room, identity, name, role))

    def log_tail(self, lines: int = 30) -> str:
        return (
            "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
            if self.log.exists()
            else ""
        )


def wait_healthy(served: Served, timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if served.proc.poll() is not None:
            raise RuntimeError(
                f"consult-sfu serve exited with {served.proc.returncode}:\n{served.log_tail()}"
            )
        try:
            with urllib.request.urlopen(
                f"{served.base_url}/healthz", timeout=2, context=served.ssl_context
            ) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(
        f"consult-sfu did not become healthy at {served.base_url} within {timeout_s} s:\n{served.log_tail()}"
    )


@contextlib.asynccontextmanager
async def serve(
    tmp_path: Path,
    *,
    workers: int = 1,
    env: dict[str, str] | None = None,
    tls: ssl.SSLContext | None = None,
    host: str = "127.0.0.1",
) -> AsyncIterator[Served]:
    """A server on a free port of ``host``; ``tls``: the client context that trusts its certificate.

    Started and stopped in a thread: the test's event loop is never blocked by the waits."""
    port = free_port()
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CONSULT_SFU_")},
        "CONSULT_SFU_SECRET": SECRET,
        "CONSULT_SFU_DATA_DIR": str(tmp_path / "data"),
        "CONSULT_SFU_ICE_HOST_ADDRESSES": "127.0.0.1",
        "CONSULT_SFU_CLUSTER_DRAIN_GRACE_S": "1",
        **(env or {}),
    }
    log = tmp_path / f"serve-{port}.log"
    argv = [
        str(Path(sys.executable).parent / "consult-sfu"),
        "serve",
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    proc = await asyncio.to_thread(_start, argv, environment, log)
    scheme = "https" if tls is not None else "http"
    served = Served(proc, f"{scheme}://{host}:{port}", log, tls)
    try:
        await asyncio.to_thread(wait_healthy, served)
        yield served
    finally:
        await asyncio.to_thread(stop_server, proc, 30.0)


def _start(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)


