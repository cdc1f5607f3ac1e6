"""In-memory store: the embedded default (one server process, ``serve --workers 1``).

Atomicity comes from asyncio itself: :meth:`_update` reads, applies the pure function
and writes back without an ``await`` in between, so no other coroutine can interleave.

Times to live are honoured as Redis does: an expired key reads as absent (checked against
``clock``, monotonic by default; tests pass their own) and is purged when touched.

Consultation records (chat transcripts) are lists held here, each with its expiry time
(unix seconds, :data:`time.time`); an expired list reads as absent and is purged when
any list is appended to.

API keys must survive a restart, so they are written to ``apikeys.json`` in the data
directory (:class:`control.store.apikeys_file.ApiKeyFile`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TypeVar

from control.domain.rules import Event
from control.store.apikeys_file import APIKEYS_FILE, ApiKeyFile
from control.store.base import Delete, EventSubscription, NewValue, SetWhen, Store

T = TypeVar("T")
log = logging.getLogger(__name__)

SUBSCRIBER_QUEUE_SIZE = 10_000
__all__ = ["APIKEYS_FILE", "MemoryStore"]


class _MemorySubscription(EventSubscription):
    def __init__(self, owner: MemoryStore) -> None:
        self._owner = owner
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue(SUBSCRIBER_QUEUE_SIZE)
        self.dropped = 0

    async def _iterate(self) -> AsyncIterator[Event]:
        while True:
            event = await self.queue.get()
            if event is None:
                return
            yield event

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def close(self) -> None:
        self._owner._subscribers.discard(self)
        try:
            self.queue.put_nowait(None)
        except asyncio.QueueFull:
            pass


class MemoryStore(Store):
    def __init__(self, data_dir: Path | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self._data: dict[str, bytes] = {}
        self._expires: dict[str, float] = {}
        self._clock = clock
        self._indexes: dict[str, set[str]] = {}
        self._subscribers: set[_MemorySubscription] = set()
        self._keys_file = None if data_dir is None else ApiKeyFile(data_dir)
        self._records: dict[str, tuple[list[bytes], float]] = {}  # key -> (items, expires_at)
        self._records_clock = time.time

    def _value(self, key: str) -> bytes | None:
        deadline = self._expires.get(key)
        if deadline is not None and self._clock() >= deadline:
            del self._expires[key]
            self._data.pop(key, None)
        return self._data.get(key)

    def _write(self, key: str, value: bytes, ttl_s: float | None = None) -> None:
        self._data[key] = value
        if ttl_s is None:
            self._expires.pop(key, None)
        else:
            self._expires[key] = self._clock() + ttl_s

    async def _get(self, key: str) -> bytes | None:
        return self._value(key)

    async def _get_many(self, keys: list[str]) -> list[bytes | None]:
        return [self._value(k) for k in keys]

    async def _put_new(self, key: str, value: bytes) -> bool:
        if self._value(key) is not None:
            return False
        self._write(key, value)
        return True

    async def _set(self, key: str, value: bytes, ttl_s: float | None, when: SetWhen) -> bool:
        present = self._value(key) is not None
        if (when is SetWhen.NEW and present) or (when is SetWhen.EXISTS and not present):
            return False
        self._write(key, value, ttl_s)
        return True

    async def _delete(self, key: str) -> bool:
        present = self._value(key) is not None
        self._data.pop(key, None)
        self._expires.pop(key, None)
        return present

    async def _ttl(self, key: str) -> float | None:
        if self._value(key) is None:
            return None
        deadline = self._expires.get(key)
        return None if deadline is None else max(0.0, deadline - self._clock())

    async def _update(self, key: str, fn: Callable[[bytes | None], tuple[NewValue, T]]) -> T:
        new, result = fn(self._value(key))  # no await between read and write: atomic
        if new is Delete.KEY:
            self._data.pop(key, None)
            self._expires.pop(key, None)
        elif new is not None:
            self._write(key, new)
        return result

    async def _index_add(self, index: str, member: str) -> None:
        self._indexes.setdefault(index, set()).add(member)

    async def _index_remove(self, index: str, member: str) -> bool:
        members = self._indexes.get(index)
        if members is None or member not in members:
            return False
        members.discard(member)
        if not members:
            del self._indexes[index]
        return True

    async def _index_members(self, index: str) -> list[str]:
        return list(self._indexes.get(index, ()))

    async def publish(self, event: Event) -> None:
        for sub in list(self._subscribers):
            try:
                sub.queue.put_nowait(event)
            except asyncio.QueueFull:
                sub.dropped += 1
                log.warning("event subscriber is %d events behind; dropped %s", sub.queue.qsize(), event.name)

    async def subscribe(self) -> EventSubscription:
        sub = _MemorySubscription(self)
        self._subscribers.add(sub)
        return sub

    async def close(self) -> None:
        for sub in list(self._subscribers):
            await sub.close()

    # ------------------------------------------------------------ API keys on disk

    # ------------------------------------------------------------ consultation records

    def _live_records(self, key: str) -> list[bytes] | None:
        entry = self._records.get(key)
        if entry is None:
            return None
        if entry[1] <= self._records_clock():
            del self._records[key]
            return None
        return entry[0]

    async def _records_append(self, key: str, value: bytes, max_items: int, expires_at: float) -> int | None:
        now = self._records_clock()
        for stale in [k for k, (_, at) in self._records.items() if at <= now]:
            del self._records[stale]
        items = self._live_records(key) or []
        if len(items) >= max_items:
            return None
        items.append(value)
        self._records[key] = (items, expires_at)
        return len(items)

    async def _records_read(self, key: str) -> list[bytes]:
        return list(self._live_records(key) or ())

    async def _records_take(self, key: str) -> list[bytes]:
        items = self._live_records(key) or []
        self._records.pop(key, None)
        return items

