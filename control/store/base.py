"""The one store interface of the control plane.

Domain-level methods (rooms, departments, organisation settings, API keys, events) are
written once here on top of a handful of byte-level primitives that each backend
implements: in memory (:mod:`control.store.memory`, the default) or Redis
(:mod:`control.store.redis`). Values are msgpack-encoded in both, so the two behave
the same (no object aliasing in memory).

Atomicity: :meth:`Store.update_room` runs a *pure* function on the current room and
writes the result back as one atomic step — a single event-loop step in memory, a
WATCH/MULTI/EXEC transaction retried on conflict in Redis. The function may therefore
run more than once in Redis and must not have side effects beyond the room it is given.

Events: :meth:`publish` fans an event out to every process's subscribers (the live
lobby of each server process listens and pushes to its own WebSocket sessions).
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import msgpack

from control.domain.errors import NotFound
from control.domain.model import (
    ApiKeyRecord,
    Department,
    OrgSettings,
    Room,
    apikey_from_dict,
    department_from_dict,
    org_from_dict,
    room_from_dict,
    to_dict,
)
from control.domain.rules import Event

T = TypeVar("T")


class StoreError(Exception):
    """The backend failed (e.g. Redis unreachable, too much contention)."""


def pack(value: dict[str, Any]) -> bytes:
    packed: bytes = msgpack.packb(value, use_bin_type=True)
    return packed


def unpack(raw: bytes) -> dict[str, Any]:
    value = msgpack.unpackb(raw, raw=False)
    if not isinstance(value, dict):
        raise StoreError("stored value is not a map")
    return value


class EventSubscription(abc.ABC):
    """An async iterator of events published by any process; close it when done."""

    @abc.abstractmethod
    def __aiter__(self) -> AsyncIterator[Event]: ...

    @abc.abstractmethod
    async def close(self) -> None: ...


class Store(abc.ABC):
    # ------------------------------------------------------------ backend primitives

    @abc.abstractmethod
    async def _get(self, key: str) -> bytes | None: ...

    @abc.abstractmethod
    async def _get_many(self, keys: list[str]) -> list[bytes | None]: ...

    @abc.abstractmethod
    async def _put_new(self, key: str, value: bytes) -> bool:
        """Store ``value`` only if ``key`` is free; False when it exists."""

    @abc.abstractmethod
    async def _update(self, key: str, fn: Callable[[bytes | None], tuple[bytes | None, T]]) -> T:
        """Atomically replace the value with fn(old)[0] (None keeps it) and return fn(old)[1]."""

    @abc.abstractmethod
    async def _index_add(self, index: str, member: str) -> None: ...

    @abc.abstractmethod
    async def _index_members(self, index: str) -> list[str]: ...

    @abc.abstractmethod
    async def publish(self, event: Event) -> None: ...

    @abc.abstractmethod
    async def subscribe(self) -> EventSubscription: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    # ------------------------------------------------------------ rooms

    async def create_room(self, room: Room) -> bool:
        created = await self._put_new(f"room:{room.id}", pack(to_dict(room)))
        if created:
            await self._index_add(f"idx:org:{room.org}", room.id)
            if room.department is not None:
                await self._index_add(f"idx:dept:{room.org}:{room.department}", room.id)
        return created

    async def get_room(self, room_id: str) -> Room | None:
        raw = await self._get(f"room:{room_id}")
        return None if raw is None else room_from_dict(unpack(raw))

    async def update_room(self, room_id: str, fn: Callable[[Room], T]) -> T:
        """Run ``fn`` on the room and store the result atomically; NotFound if it is absent."""

        def apply(raw: bytes | None) -> tuple[bytes | None, T]:
            if raw is None:
                raise NotFound("room")
            room = room_from_dict(unpack(raw))
            result = fn(room)
            return pack(to_dict(room)), result

        return await self._update(f"room:{room_id}", apply)

    async def list_rooms(self, org: str, department: str | None = None) -> list[Room]:
        index = f"idx:org:{org}" if department is None else f"idx:dept:{org}:{department}"
        ids = sorted(await self._index_members(index))
        if not ids:
            return []
        raws = await self._get_many([f"room:{i}" for i in ids])
        return [room_from_dict(unpack(raw)) for raw in raws if raw is not None]

    # ------------------------------------------------------------ departments, organisations

    async def get_department(self, org: str, name: str) -> Department:
        raw = await self._get(f"dept:{org}:{name}")
        return Department(org, name) if raw is None else department_from_dict(unpack(raw))

    async def update_department(self, org: str, name: str, fn: Callable[[Department], T]) -> T:
        def apply(raw: bytes | None) -> tuple[bytes | None, T]:
            dept = Department(org, name) if raw is None else department_from_dict(unpack(raw))
            result = fn(dept)
            return pack(to_dict(dept)), result

        return await self._update(f"dept:{org}:{name}", apply)

    async def get_org(self, org: str) -> OrgSettings:
        raw = await self._get(f"org:{org}")
        return OrgSettings(org) if raw is None else org_from_dict(unpack(raw))

    async def update_org(self, org: str, fn: Callable[[OrgSettings], T]) -> T:
        def apply(raw: bytes | None) -> tuple[bytes | None, T]:
            settings = OrgSettings(org) if raw is None else org_from_dict(unpack(raw))
            result = fn(settings)
            return pack(to_dict(settings)), result

        return await self._update(f"org:{org}", apply)

    # ------------------------------------------------------------ API keys (hashes only)

    async def put_api_key(self, record: ApiKeyRecord) -> None:
        if not await self._put_new(f"apikey:{record.key_id}", pack(to_dict(record))):
            raise StoreError(f"API key id {record.key_id} already exists")

    async def get_api_key(self, key_id: str) -> ApiKeyRecord | None:
        raw = await self._get(f"apikey:{key_id}")
        return None if raw is None else apikey_from_dict(unpack(raw))
