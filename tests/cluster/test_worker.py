"""One worker's rooms, lease recovery and drain, on both stores (connections stand in for sockets)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from control.cluster.config import ClusterConfig
from control.cluster.records import placement_key, worker_key
from control.cluster.registry import ClusterRegistry
from control.cluster.worker import Worker
from control.store import Store
from tests.control.conftest import make_store, redis_url, store_kind  # noqa: F401


class FakeConnection:
    """Records what the worker asked of a participant's connection."""

    def __init__(self) -> None:
        self.moved = False
        self.shut = False

    async def move(self) -> None:
        self.moved = True

    async def shut_down(self) -> None:
        self.shut = True


@pytest.fixture
async def store(make_store: Any) -> AsyncIterator[Store]:
    made = make_store()
    try:
        yield made
    finally:
        await made.close()


def make_worker(store: Store, name: str, **config: Any) -> Worker:
    settings = {"lease_s": 3.0, "heartbeat_s": 0.05, **config}
    return Worker(
        ClusterRegistry(store), ClusterConfig(**settings), worker_id=f"{name}/0/t", node=name, index=0, pid=1,
        internal_url=f"http://{name}", ice_addresses=("127.0.0.1",), gauges=lambda: {"participants": 0, "consumers": 0},
    )


async def test_a_room_is_held_while_connections_run_and_freed_after(store: Store) -> None:
    w = make_worker(store, "a")
    await w.start()
    try:
        assert await w.accept("r1")  # free: taken
        assert await w.accept("r1", placed_here=True)
        assert await store.get_raw(placement_key("r1")) == b"a/0/t"
        await w.release("r1")
        assert await store.get_raw(placement_key("r1")) == b"a/0/t"
        await w.release("r1")
        assert await store.get_raw(placement_key("r1")) is None
        assert w.rooms == {}
        await store.set_raw(placement_key("r2"), b"b/0/t")
        assert not await w.accept("r2")  # another worker owns it
        assert w.rooms == {}
    finally:
        await w.close()
    assert await store.get_raw(worker_key("a/0/t")) is None  # a clean exit deletes the lease


async def test_lost_lease_takes_rooms_back_or_moves_them_to_their_new_owner(store: Store) -> None:
    w = make_worker(store, "a")
    await w.start()
    try:
        kept, lost = FakeConnection(), FakeConnection()
        for room, conn in (("kept", kept), ("lost", lost)):
            assert await w.accept(room)
            w.attach(room, conn)
        # what a Redis restart looks like: the lease and placements are gone; one room was
        # placed elsewhere meanwhile
        for key in (worker_key("a/0/t"), placement_key("kept"), placement_key("lost")):
            await store.delete_raw(key)
        await store.set_raw(placement_key("lost"), b"b/0/t")
        for _ in range(100):
            if lost.moved:
                break
            await asyncio.sleep(0.02)
        assert lost.moved and not kept.moved
        assert await store.get_raw(placement_key("kept")) == b"a/0/t"
        assert await store.get_raw(worker_key("a/0/t")) is not None
        assert w.counters.leases_lost == 1 and w.counters.moves == 1
    finally:
        await w.close()


async def test_drain_lets_rooms_end_by_themselves(store: Store) -> None:
    w = make_worker(store, "a")
    await w.start()
    try:
        assert await w.accept("r")
        drain = asyncio.create_task(w.drain(30))
        await asyncio.sleep(0.1)
        assert w.draining and not drain.done()
        assert not await w.accept("new")  # free rooms are not taken while draining
        assert await w.accept("r")  # the running one still is (a participant reconnecting)
        await w.release("r")
        await w.release("r")
        await asyncio.wait_for(drain, 2)
        assert await store.get_raw(placement_key("r")) is None
    finally:
        await w.close()


async def test_drain_deadline_moves_participants_when_another_worker_can_take_them(store: Store) -> None:
    a, b = make_worker(store, "a"), make_worker(store, "b")
    await a.start()
    await b.start()
    try:
        conn = FakeConnection()
        assert await a.accept("r")
        a.attach("r", conn)
        await asyncio.wait_for(a.drain(0.2), 3)
        assert conn.moved and not conn.shut
        assert await store.get_raw(placement_key("r")) is None  # freed before the move
        assert not await a.accept("r")  # past the deadline: nothing more here
    finally:
        await a.close()
        await b.close()


async def test_drain_deadline_shuts_down_when_no_other_worker_is_left(store: Store) -> None:
    a = make_worker(store, "a")
    await a.start()
    try:
        conn = FakeConnection()
        assert await a.accept("r")
        a.attach("r", conn)
        drain = asyncio.create_task(a.drain(60))
        await asyncio.sleep(0.1)
        await asyncio.wait_for(a.drain(0), 3)  # a second request: the deadline is now
        await asyncio.wait_for(drain, 1)
        assert conn.shut and not conn.moved
    finally:
        await a.close()
