"""Real nodes (`consult-sfu serve` processes) on loopback for the cluster tests.

Each node is its own process group with its own data folder and log; every test stops
what it started (SIGKILL of the group as a last resort, so nothing outlives a test).
A node's config comes from the environment: secret, loopback ICE address, Redis URL and
prefix shared by the nodes of one test, captions workers started at first use (boots fast).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from control.cluster.admin import admin_headers
from control.cluster.auth import derive_key
from control.tokens import mint

SECRET = "cluster-tests-secret-0123456789abcdef012"
BINARY = Path(sys.executable).parent / "consult-sfu"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def token(room: str, identity: str, role: str = "client", **kwargs: Any) -> str:
    return mint(SECRET, room=room, identity=identity, role=role, ttl_s=600, **kwargs)


@dataclass
class Node:
    name: str
    port: int
    data_dir: Path
    proc: subprocess.Popen[bytes]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def log(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    async def healthz(self) -> tuple[int, dict[str, Any]]:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3)) as http, http.get(self.http_url + "/healthz") as resp:
            return resp.status, await resp.json()

    async def cluster(self) -> dict[str, Any]:
        """GET /cluster/nodes (signed as `consult-sfu nodes` signs it)."""
        secret = self.env.get("CONSULT_SFU_SECRET") or (self.data_dir / "secret").read_text().strip()
        key = derive_key(secret, "admin")
        headers = admin_headers(key, "GET", "/cluster/nodes", time.time())
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http, http.get(
            self.http_url + "/cluster/nodes", headers=headers
        ) as resp:
            assert resp.status == 200, await resp.text()
            return await resp.json()  # type: ignore[no-any-return]

    async def metrics(self) -> str:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http, http.get(self.http_url + "/metrics") as resp:
            return await resp.text()

    def signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, sig)

    def kill(self) -> None:
        """SIGKILL the whole node (its process group: supervisor and workers)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    async def wait_exit(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"node {self.name} still runs after {timeout} s:\n{self.log()}")
            await asyncio.sleep(0.05)
        return self.proc.returncode

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.signal(signal.SIGTERM)
            self.signal(signal.SIGTERM)  # a second signal: no grace
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pass
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)


async def stop_nodes(*nodes: Node) -> None:
    """Stop nodes from an async test without blocking its event loop."""
    await asyncio.gather(*(asyncio.to_thread(n.stop) for n in nodes))


def start_node(
    tmp: Path, name: str, *, redis_url: str | None = None, prefix: str | None = None, workers: int = 1,
    port: int | None = None, env: dict[str, str] | None = None,
) -> Node:
    port = port or free_port()
    data_dir = tmp / f"node-{name}"
    data_dir.mkdir(parents=True, exist_ok=True)
    node_env = {k: v for k, v in os.environ.items() if not k.startswith("CONSULT_SFU_")}
    node_env.update(
        CONSULT_SFU_SECRET=SECRET,
        CONSULT_SFU_ICE_HOST_ADDRESSES="127.0.0.1",
        CONSULT_SFU_DATA_DIR=str(data_dir),
        CONSULT_SFU_CAPTIONS_START_WORKERS="first_use",
        CONSULT_SFU_CLUSTER_NODE_NAME=name,
    )
    if redis_url is not None:
        node_env.update(CONSULT_SFU_STORE="redis", CONSULT_SFU_REDIS_URL=redis_url, CONSULT_SFU_STORE_REDIS_PREFIX=prefix or "csfu:")
    node_env.update(env or {})
    log_path = data_dir / "server.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [str(BINARY), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
            env=node_env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )
    return Node(name, port, data_dir, proc, log_path, node_env)


async def wait_healthy(node: Node, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if node.proc.poll() is not None:
            raise AssertionError(f"node {node.name} exited with {node.proc.returncode}:\n{node.log()}")
        with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
            status, _ = await node.healthz()
            if status == 200:
                return
        await asyncio.sleep(0.1)
    raise AssertionError(f"node {node.name} not healthy within {timeout} s:\n{node.log()}")


async def start_nodes(tmp: Path, names: list[str], **kwargs: Any) -> list[Node]:
    nodes = [start_node(tmp, name, **kwargs) for name in names]
    try:
        await asyncio.gather(*(wait_healthy(n) for n in nodes))
    except BaseException:
        for n in nodes:
            n.stop()
        raise
    return nodes


def start_nodes_sync(tmp: Path, names: list[str], **kwargs: Any) -> list[Node]:
    """start_nodes for synchronous (module-scoped) fixtures."""
    return asyncio.run(start_nodes(tmp, names, **kwargs))


def new_prefix() -> str:
    return f"cl{uuid.uuid4().hex[:8]}:"


@dataclass
class RedisServer:
    """A redis-server of the test's own on a loopback port, which a test may stop and start."""

    port: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return
            time.sleep(0.02)
        raise AssertionError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None
