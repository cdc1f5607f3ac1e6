"""Redis down and restarted (empty) during a call: media goes on, joins wait, records come back.

Nothing on the media path needs Redis: while it is down the call keeps its media and nobody
is disconnected; a new join gets the documented refusal (one ``access_refused`` ``unavailable``,
then the close code 4403). When Redis is back — restarted empty, as a Redis
without persistence is — the worker's lease and the running room's placement are written
again by themselves, and new joins work.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from control.cluster.records import WORKERS_INDEX, placement_key, worker_key
from control.store.redis import RedisStore
from tests.cluster.nodes import (
    RedisServer,
    free_port,
    new_prefix,
    start_node,
    stop_nodes,
    token,
    wait_healthy,
)
from tests.cluster.rejoin import RejoiningPeer
from tests.support.peer import TestPeer

pytestmark = [pytest.mark.redis, pytest.mark.serial]


async def records(redis: RedisServer, prefix: str, room: str) -> tuple[bytes | None, list[str]]:
    store = RedisStore(redis.url, prefix=prefix)
    try:
        owner = await store.get_raw(placement_key(room))
        workers = await store.index_members(WORKERS_INDEX)
        leases = [w for w in workers if await store.get_raw(worker_key(w)) is not None]
    finally:
        await store.close()
    return owner, leases


async def test_redis_restarted_during_a_call(tmp_path: Path) -> None:
    redis = RedisServer(free_port())
    redis.start()
    prefix = new_prefix()
    node = start_node(tmp_path, "n", redis_url=redis.url, prefix=prefix)
    peers: list[RejoiningPeer] = []
    try:
        await wait_healthy(node)
        for name in ("x", "y"):
            peer = RejoiningPeer([node.ws_url], token("call", name), name)
            peers.append(peer)
            await peer.start()
        x, y = peers
        await x.wait_media_from("y")
        await y.wait_media_from("x")
        owner, leases = await records(redis, prefix, "call")
        assert owner is not None and leases == [owner.decode()]

        await asyncio.to_thread(redis.stop)
        before = x.media_from("y"), y.media_from("x")
        await asyncio.sleep(1.5)
        late = TestPeer(node.ws_url, token("other", "late"), "late")
        try:
            refused = await late.connect()
            assert refused["type"] == "access_refused" and refused["reason"] == "unavailable", refused
            assert [m["type"] for m in late.messages] == ["access_refused"]  # one refusal, no error after it
        finally:
            await late.close()
        await asyncio.sleep(1.5)
        assert x.media_from("y") > before[0] + 20 and y.media_from("x") > before[1] + 20  # 3 s at 15 fps
        assert not x.closes and not y.closes

        await asyncio.to_thread(redis.start)  # empty: no persistence
        for _ in range(100):
            if await records(redis, prefix, "call") == (owner, leases):
                break
            await asyncio.sleep(0.05)
        assert await records(redis, prefix, "call") == (owner, leases)
        joined = TestPeer(node.ws_url, token("call", "z"), "z")
        try:
            reply = await joined.connect()
            assert reply["type"] == "joined", (reply, node.log(30))
        finally:
            await joined.close()
        assert not x.closes and not y.closes
        metrics = await node.metrics()
        assert "consult_sfu_cluster_leases_lost_total 1" in metrics
    finally:
        await asyncio.gather(*(p.close() for p in peers), return_exceptions=True)
        await stop_nodes(node)
        await asyncio.to_thread(redis.stop)
