"""In-memory store: the embedded default (one server process, ``make run``).

Atomicity comes from asyncio itself: :meth:`_update` reads, applies the pure function
and writes back without an ``await`` in between, so no other coroutine can interleave.

API keys must survive a restart, so they are also written to ``apikeys.json`` in the
data directory (hashes only, file mode 0600) and re-read when the file changes (the
``consult-sfu apikey create`` CLI writes it while the server runs).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TypeVar

from control.domain.model import ApiKeyRecord, apikey_from_dict, to_dict
from control.domain.rules import Event
from control.store.base import EventSubscription, Store, StoreError

T = TypeVar("T")
log = logging.getLogger(__name__)

SUBSCRIBER_QUEUE_SIZE = 10_000
APIKEYS_FILE = "apikeys.json"


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
    def __init__(self, data_dir: Path | None = None) -> None:
        self._data: dict[str, bytes] = {}
        self._indexes: dict[str, set[str]] = {}
        self._subscribers: set[_MemorySubscription] = set()
        self._data_dir = data_dir
        self._keys: dict[str, ApiKeyRecord] = {}
        self._keys_mtime: float | None = None

    async def _get(self, key: str) -> bytes | None:
        return self._data.get(key)

    async def _get_many(self, keys: list[str]) -> list[bytes | None]:
        return [self._data.get(k) for k in keys]

    async def _put_new(self, key: str, value: bytes) -> bool:
        if key in self._data:
            return False
        self._data[key] = value
        return True

    async def _update(self, key: str, fn: Callable[[bytes | None], tuple[bytes | None, T]]) -> T:
        new, result = fn(self._data.get(key))  # no await between read and write: atomic
        if new is not None:
            self._data[key] = new
        return result

    async def _index_add(self, index: str, member: str) -> None:
        self._indexes.setdefault(index, set()).add(member)

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

    def _keys_path(self) -> Path | None:
        return None if self._data_dir is None else self._data_dir / APIKEYS_FILE

    def _reload_keys(self) -> None:
        path = self._keys_path()
        if path is None:
            return
        try:
            mtime = path.stat().st_mtime
        except FileNotFoundError:
            return
        if mtime == self._keys_mtime:
            return
        try:
            records = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise StoreError(f"cannot read API keys from {path}: {exc}") from None
        self._keys = {r["key_id"]: apikey_from_dict(r) for r in records}
        self._keys_mtime = mtime

    async def put_api_key(self, record: ApiKeyRecord) -> None:
        self._reload_keys()
        if record.key_id in self._keys:
            raise StoreError(f"API key id {record.key_id} already exists")
        self._keys[record.key_id] = record
        path = self._keys_path()
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump([to_dict(r) for r in self._keys.values()], f, indent=1)
        os.replace(tmp, path)
        self._keys_mtime = path.stat().st_mtime

    async def get_api_key(self, key_id: str) -> ApiKeyRecord | None:
        record = self._keys.get(key_id)
        if record is None:
            self._reload_keys()
            record = self._keys.get(key_id)
        return record
