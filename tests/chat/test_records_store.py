"""ConsultationRecords on both stores: bounded appends, expiry, an atomic take."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from control.store.consultation_data import ConsultationRecords, records_key, registered_kinds


async def test_append_read_take(make_store: Any) -> None:
    store = make_store()
    try:
        records = ConsultationRecords(store, "chattest", max_items=3)
        later = time.time() + 60
        assert await records.append("r1", {"text": "one"}, expires_at=later) == 1
        assert await records.append("r1", {"text": "two"}, expires_at=later) == 2
        assert await records.append("r2", {"text": "other room"}, expires_at=later) == 1
        assert [r["text"] for r in await records.read("r1")] == ["one", "two"]
        assert await records.append("r1", {"text": "three"}, expires_at=later) == 3
        assert await records.append("r1", {"text": "four"}, expires_at=later) is None  # full: refused, nothing dropped
        assert [r["text"] for r in await records.read("r1")] == ["one", "two", "three"]
        assert [r["text"] for r in await records.take("r1")] == ["one", "two", "three"]
        assert await records.read("r1") == [] and await records.take("r1") == []
        assert [r["text"] for r in await records.read("r2")] == ["other room"]
        assert "chattest" in registered_kinds() and records_key("chattest", "r1") == "consultation:chattest:r1"
    finally:
        await store.close()


async def test_a_list_expires_by_itself(make_store: Any) -> None:
    store = make_store()
    try:
        records = ConsultationRecords(store, "chattest", max_items=10)
        await records.append("r1", {"text": "short-lived"}, expires_at=time.time() + 0.3)
        assert len(await records.read("r1")) == 1
        await asyncio.sleep(0.5)
        assert await records.read("r1") == []
        assert await records.take("r1") == []
    finally:
        await store.close()


@pytest.mark.redis
async def test_take_is_atomic_across_connections(redis_url: str) -> None:
    """Two processes hearing the same end: exactly one gets the transcript."""
    from control.store.redis import RedisStore

    prefix = f"take{time.monotonic_ns()}:"
    stores = [RedisStore(redis_url, prefix=prefix) for _ in range(4)]
    try:
        records = [ConsultationRecords(s, "chattest", max_items=1000) for s in stores]
        for i in range(200):
            await records[i % 4].append("r", {"i": i}, expires_at=time.time() + 60)
        taken = await asyncio.gather(*(r.take("r") for r in records))
        assert sorted(len(t) for t in taken) == [0, 0, 0, 200]
        assert [r["i"] for t in taken for r in t] == list(range(200))
    finally:
        for s in stores:
            await s.close()


@pytest.mark.redis
async def test_concurrent_appends_never_exceed_the_bound(redis_url: str) -> None:
    from control.store.redis import RedisStore

    prefix = f"bound{time.monotonic_ns()}:"
    stores = [RedisStore(redis_url, prefix=prefix) for _ in range(3)]
    try:
        records = [ConsultationRecords(s, "chattest", max_items=50) for s in stores]
        results = await asyncio.gather(*(records[i % 3].append("r", {"i": i}, expires_at=time.time() + 60) for i in range(90)))
        assert sum(1 for r in results if r is not None) == 50
        assert len(await records[0].read("r")) == 50
    finally:
        for s in stores:
            await s.close()
