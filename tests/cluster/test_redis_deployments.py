"""The store on the Redis deployments store.redis_url names: Sentinel (with a failover) and Cluster.

Real servers on loopback: a master, a replica and one Sentinel (quorum 1) watching them; a
Redis Cluster of three masters. The store's raw records, the registry's placement, an
atomic room update (WATCH/MULTI/EXEC on one key) and the event channel work on both; after
the Sentinel promotes the replica, the store carries on against the new master.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from control.cluster.records import WorkerRecord
from control.cluster.registry import ClusterRegistry
from control.domain.rules import Event
from control.store import Store
from control.store.base import SetWhen
from control.store.redis import RedisStore
from tests.cluster.nodes import free_port

pytestmark = pytest.mark.redis


def redis(*args: str, cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["redis-server", *args, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )


def cli(port: int, *args: str) -> str:
    return subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True, timeout=10).stdout.strip()


def wait_for(check: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"not reached in {timeout} s")


def _stop(started: list[subprocess.Popen[bytes]]) -> None:
    for proc in started:
        proc.kill()
    for proc in started:
        proc.wait(timeout=10)


async def exercise(store: Store) -> None:
    """What the cluster and the consultations need from a store, once."""
    assert await store.set_raw("lease", b"x", ttl_s=5)
    assert 4 < (await store.ttl_raw("lease") or 0) <= 5
    assert not await store.set_raw("lease", b"y", when=SetWhen.NEW)
    assert await store.update_raw("lease", lambda old: (b"z", old)) == b"x"
    assert await store.delete_raw_if("lease", b"z")
    assert await store.get_raw_many(["a", "b", "c"]) == [None, None, None]  # three slots on a cluster
    now = time.time()
    me = WorkerRecord("n/0/x", "n", 0, 1, "http://127.0.0.1:1", ("127.0.0.1",), now, now, 3.0)
    registry = ClusterRegistry(store)
    await registry.register(me)
    assert [w.worker_id for w in await registry.workers()] == ["n/0/x"]
    assert (await registry.resolve("room", me)).placed
    assert await registry.release("room", "n/0/x")
    subscription = await store.subscribe()
    try:
        got: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        async def read() -> None:
            async for event in subscription:
                got.set_result(event.name)
                return

        reader = asyncio.create_task(read())
        for _ in range(40):  # the subscription is live once a published event arrives
            await store.publish(Event("hello", "org", None, now))
            with contextlib.suppress(TimeoutError):
                assert await asyncio.wait_for(asyncio.shield(got), 0.1) == "hello"
                break
        assert got.done()
        await reader
    finally:
        await subscription.close()


def _start_sentinel(tmp_path: Path, started: list[subprocess.Popen[bytes]]) -> tuple[int, int, int]:
    master, replica, sentinel_port = free_port(), free_port(), free_port()
    conf = tmp_path / "sentinel.conf"
    conf.write_text(
        f"port {sentinel_port}\nbind 127.0.0.1\nsentinel monitor svc 127.0.0.1 {master} 1\n"
        "sentinel down-after-milliseconds svc 500\nsentinel failover-timeout svc 5000\n"
    )
    started.append(redis("--port", str(master), cwd=tmp_path))
    started.append(redis("--port", str(replica), "--replicaof", "127.0.0.1", str(master), cwd=tmp_path))
    wait_for(lambda: "master_link_status:up" in cli(replica, "info", "replication"))
    started.append(subprocess.Popen(["redis-server", str(conf), "--sentinel"], cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
    wait_for(lambda: cli(sentinel_port, "sentinel", "replicas", "svc") != "")
    return master, replica, sentinel_port


@pytest.fixture
async def sentinel(tmp_path: Path) -> AsyncIterator[tuple[int, int, int]]:
    started: list[subprocess.Popen[bytes]] = []
    try:
        yield await asyncio.to_thread(_start_sentinel, tmp_path, started)
    finally:
        await asyncio.to_thread(_stop, started)


async def test_sentinel_and_a_failover(sentinel: tuple[int, int, int]) -> None:
    master, replica, sentinel_port = sentinel
    store = RedisStore(f"redis+sentinel://127.0.0.1:{sentinel_port}/svc/0", prefix="s:")
    try:
        await exercise(store)
        await store.set_raw("kept", b"1")
        await asyncio.to_thread(wait_for, lambda: cli(replica, "get", "s:kept") == "1")
        await asyncio.to_thread(cli, master, "shutdown", "nosave")  # the master is gone
        promoted = await asyncio.to_thread(
            wait_for, lambda: cli(sentinel_port, "sentinel", "get-master-addr-by-name", "svc").endswith(str(replica)), 15
        )
        assert promoted is None
        for _ in range(50):  # clients follow the Sentinel to the new master (a few failed calls first)
            try:
                assert await store.get_raw("kept") == b"1"
                break
            except Exception:
                await asyncio.sleep(0.1)
        await exercise(store)
    finally:
        await store.close()


def _cluster_port() -> int:
    """A free port whose cluster bus port (+10000) is free too."""
    import socket

    while True:
        port = free_port()
        if port + 10000 > 65535:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port


def _start_cluster(tmp_path: Path, started: list[subprocess.Popen[bytes]]) -> list[int]:
    ports = [_cluster_port() for _ in range(3)]
    for port in ports:
        folder = tmp_path / str(port)
        folder.mkdir()
        started.append(redis("--port", str(port), "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", cwd=folder))
    for port in ports:
        wait_for(lambda p=port: cli(p, "ping") == "PONG")
    for i, port in enumerate(ports):  # a third of the slots each, then they meet
        low, high = i * 16384 // 3, (i + 1) * 16384 // 3 - 1
        cli(port, "cluster", "addslotsrange", str(low), str(high))
    for port in ports[1:]:
        cli(port, "cluster", "meet", "127.0.0.1", str(ports[0]))
    wait_for(lambda: all("cluster_state:ok" in cli(p, "cluster", "info") for p in ports), 15)
    return ports


@pytest.fixture
async def redis_cluster(tmp_path: Path) -> AsyncIterator[list[int]]:
    started: list[subprocess.Popen[bytes]] = []
    try:
        yield await asyncio.to_thread(_start_cluster, tmp_path, started)
    finally:
        await asyncio.to_thread(_stop, started)


async def test_redis_cluster(redis_cluster: list[int]) -> None:
    store = RedisStore(f"redis+cluster://127.0.0.1:{redis_cluster[0]}", prefix="c:")
    try:
        await exercise(store)
    finally:
        await store.close()

