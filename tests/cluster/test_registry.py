"""The store's raw records and the registry written on them, on both stores (real redis-server)."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from control.cluster.records import WORKERS_INDEX, WorkerRecord, placement_key, worker_key
from control.cluster.registry import ClusterRegistry, NoWorkerAvailable
from control.store import Store
from control.store.base import Delete, SetWhen
from control.store.memory import MemoryStore
from tests.control.conftest import make_store, redis_url, store_kind  # noqa: F401


@pytest.fixture
async def store(make_store: Any) -> AsyncIterator[Store]:
    made = make_store()
    try:
        yield made
    finally:
        await made.close()


def record(worker_id: str, *, lease_s: float = 3.0, **kwargs: Any) -> WorkerRecord:
    now = time.time()
    base = WorkerRecord(
        worker_id=worker_id, node=worker_id.split("/")[0], index=0, pid=1, internal_url="http://127.0.0.1:1",
        ice_addresses=("127.0.0.1",), started_at=now, renewed_at=now, lease_s=lease_s,
    )
    return dataclasses.replace(base, **kwargs)


async def test_raw_records(store: Store) -> None:
    assert await store.set_raw("k", b"1", when=SetWhen.NEW)
    assert not await store.set_raw("k", b"2", when=SetWhen.NEW)
    assert await store.get_raw("k") == b"1"
    assert not await store.set_raw("absent", b"x", when=SetWhen.EXISTS)
    assert await store.get_raw("absent") is None
    assert await store.set_raw("k", b"3", when=SetWhen.EXISTS)
    assert not await store.delete_raw_if("k", b"1")
    assert await store.get_raw("k") == b"3"
    assert await store.delete_raw_if("k", b"3")
    assert await store.get_raw("k") is None
    assert not await store.delete_raw("k")
    await store.set_raw("k", b"4")
    assert await store.update_raw("k", lambda old: (Delete.KEY, old)) == b"4"
    assert await store.get_raw("k") is None
    await store.index_add("i", "a")
    assert await store.index_remove("i", "a") and not await store.index_remove("i", "a")
    assert await store.index_members("i") == []
    with pytest.raises(ValueError, match="ttl_s"):
        await store.set_raw("k", b"x", ttl_s=0)


@pytest.mark.redis
async def test_time_to_live_on_redis(redis_url: str) -> None:
    from control.store.redis import RedisStore

    store = RedisStore(redis_url, prefix=f"ttl{time.monotonic_ns()}:")
    await store.set_raw("lease", b"x", ttl_s=0.15)
    assert await store.get_raw("lease") == b"x"
    await asyncio.sleep(0.3)
    assert await store.get_raw("lease") is None
    assert not await store.set_raw("lease", b"y", ttl_s=1, when=SetWhen.EXISTS)
    await store.close()


async def test_time_to_live_in_memory() -> None:
    now = [100.0]
    store = MemoryStore(clock=lambda: now[0])
    await store.set_raw("lease", b"x", ttl_s=3)
    now[0] = 102.9
    assert await store.set_raw("lease", b"y", ttl_s=3, when=SetWhen.EXISTS)  # renewed: 105.9
    now[0] = 105.8
    assert await store.get_raw("lease") == b"y"
    now[0] = 106.0
    assert await store.get_raw("lease") is None
    assert not await store.set_raw("lease", b"z", ttl_s=3, when=SetWhen.EXISTS)
    assert await store.set_raw("lease", b"z", ttl_s=3, when=SetWhen.NEW)
    await store.update_raw("lease", lambda old: (b"kept", None))  # a plain write drops the TTL, as in Redis
    now[0] = 1000.0
    assert await store.get_raw("lease") == b"kept"


async def test_lease_renewal_notices_a_lost_lease(store: Store) -> None:
    registry = ClusterRegistry(store)
    me = record("n/0/a")
    await registry.register(me)
    assert await registry.renew(me)
    await store.delete_raw(worker_key(me.worker_id))  # what an expiry or a Redis restart does
    assert not await registry.renew(me)
    assert await registry.worker(me.worker_id) is None


async def test_listing_prunes_and_counts_workers_without_a_lease(store: Store) -> None:
    registry = ClusterRegistry(store)
    for w in ("n/0/a", "n/1/b", "m/0/c"):
        await registry.register(record(w))
    await store.delete_raw(worker_key("n/1/b"))  # its lease expired
    assert [w.worker_id for w in await registry.workers()] == ["m/0/c", "n/0/a"]
    assert registry.counters.workers_lost == 1
    assert sorted(await store.index_members(WORKERS_INDEX)) == ["m/0/c", "n/0/a"]
    await registry.remove_worker("m/0/c")  # a clean exit: not counted as lost
    assert [w.worker_id for w in await registry.workers()] == ["n/0/a"]
    assert registry.counters.workers_lost == 1


async def test_concurrent_first_placements_agree_on_one_owner(store: Store) -> None:
    a, b = record("a/0/x"), record("b/0/y")
    entrances = [ClusterRegistry(store, rand=lambda: 0.0) for _ in range(10)]
    for registry in entrances[:2]:
        await registry.register(a)
        await registry.register(b)
    owners = await asyncio.gather(*(r.resolve("room-1", (a, b)[i % 2]) for i, r in enumerate(entrances)))
    assert len({o.owner.worker_id for o in owners}) == 1
    assert sum(o.placed for o in owners) == 1
    assert sum(r.counters.placements for r in entrances) == 1
    assert (await store.get_raw(placement_key("room-1"))) == owners[0].owner.worker_id.encode()


async def test_new_rooms_go_to_the_least_loaded_and_never_to_a_draining_worker(store: Store) -> None:
    registry = ClusterRegistry(store)
    busy, idle, draining = record("a/0/x", cpu=0.8), record("b/0/y", cpu=0.1), record("c/0/z", draining=True)
    for w in (busy, idle, draining):
        await registry.register(w)
    assert (await registry.resolve("r1", draining)).owner.worker_id == "b/0/y"
    assert (await registry.resolve("r1", busy)).owner.worker_id == "b/0/y"  # placed: the same answer
    await registry.register(dataclasses.replace(idle, draining=True))
    assert (await registry.resolve("r2", draining)).owner.worker_id == "a/0/x"
    await registry.register(dataclasses.replace(busy, draining=True))
    with pytest.raises(NoWorkerAvailable):
        await registry.resolve("r3", draining)
    assert (await registry.resolve("r1", draining)).owner.worker_id == "b/0/y"  # running rooms stay


async def test_a_dead_owner_is_replaced_only_once_its_lease_is_gone(store: Store) -> None:
    registry = ClusterRegistry(store)
    a, b = record("a/0/x"), record("b/0/y", cpu=0.5)
    await registry.register(a)
    await registry.register(b)
    assert (await registry.resolve("r", b)).owner.worker_id == "a/0/x"
    # a is unreachable but its lease runs: still the owner (never two owners)
    assert (await registry.resolve("r", b, suspects={"a/0/x"})).owner.worker_id == "a/0/x"
    await store.delete_raw(worker_key("a/0/x"))  # the lease expired
    resolution = await registry.resolve("r", b, suspects={"a/0/x"})
    assert resolution.owner.worker_id == "b/0/y" and resolution.placed
    assert registry.counters.owners_replaced == 1
    # the old owner coming back cannot free the room it lost
    assert not await registry.release("r", "a/0/x")
    assert await registry.owner_of("r") == "b/0/y"
    assert await registry.release("r", "b/0/y")
    assert await registry.owner_of("r") is None


async def test_an_owner_that_refuses_connections_is_replaced_once_it_missed_a_renewal() -> None:
    now = [100.0]
    store = MemoryStore(clock=lambda: now[0])
    registry = ClusterRegistry(store, clock=lambda: 1_000.0 + now[0])
    a, b = record("a/0/x"), record("b/0/y", cpu=0.5)
    for w in (a, b):
        await registry.register(w)
    await registry.resolve("r", b)  # placed on a (less loaded)
    now[0] = 101.4  # a's lease was renewed 1.4 s ago: not yet a missed renewal
    assert (await registry.resolve("r", b, suspects={"a/0/x"})).owner.worker_id == "a/0/x"
    now[0] = 101.6  # 1.6 s: a renewal (every 1 s) was missed, and a refuses connections
    assert (await registry.resolve("r", b)).owner.worker_id == "a/0/x"  # not a suspect: its lease still runs
    resolution = await registry.resolve("r", b, suspects={"a/0/x"})
    assert resolution.owner.worker_id == "b/0/y" and resolution.placed
    assert await store.ttl_raw(placement_key("r")) is None and await store.ttl_raw("absent") is None
    assert await store.ttl_raw(worker_key("b/0/y")) == pytest.approx(1.4)
