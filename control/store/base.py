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

Raw records (``*_raw``, ``index_*``): the byte-level face the cluster registry
(:mod:`control.cluster.registry`) is written on, once for both backends: a value with an
optional time to live (honoured by the memory backend too), set only if new or only if
present, deleted, deleted only if it still holds an expected value, or updated
atomically. Every one touches a single key, so it also works on Redis Cluster.

Consultation records (``_records_*``): append-only lists of what a running consultation
produces and the store must share between processes (the chat transcript). They are
reached only through :class:`control.store.consultation_data.ConsultationRecords`, whose
kinds are registered, so the end-of-consultation audit can enumerate them; each list
expires by itself at a given time (a backstop for a consultation nobody ends).
"""

from __future__ import annotations

import abc
import enum
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, TypeVar

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

if TYPE_CHECKING:  # apikeys_file imports StoreError from here
    from control.store.apikeys_file import ApiKeyFile

T = TypeVar("T")


#: the index of API key ids (for listing)
APIKEY_INDEX = "idx:apikeys"


class StoreError(Exception):
    """The backend failed (e.g. Redis unreachable, too much contention)."""

    #: how many were raised in this process (``consult_sfu_store_errors_total``)
    raised = 0

    def __init__(self, *args: object) -> None:
        super().__init__(*args)
        StoreError.raised += 1


class SetWhen(enum.Enum):
    """Condition of :meth:`Store.set_raw` (Redis ``SET`` with nothing, ``NX`` or ``XX``)."""

    ALWAYS = "always"
    NEW = "new"  # only if the key is absent
    EXISTS = "exists"  # only if the key is present (a lease renewal that notices a lost lease)


class Delete(enum.Enum):
    """Returned by an update function instead of new bytes: delete the key."""

    KEY = "delete"


#: What an update function returns as the key's next value: bytes, None (unchanged) or Delete.KEY.
NewValue = bytes | None | Delete


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
    #: Where API key hashes live instead of the store, when a backend is given one: the memory
    #: store's data folder, or a node's private (unpersisted) redis-server (apikeys_file.py).
    _keys_file: ApiKeyFile | None = None

    # ------------------------------------------------------------ backend primitives

    @abc.abstractmethod
    async def _get(self, key: str) -> bytes | None: ...

    @abc.abstractmethod
    async def _get_many(self, keys: list[str]) -> list[bytes | None]: ...

    @abc.abstractmethod
    async def _put_new(self, key: str, value: bytes) -> bool:
        """Store ``value`` only if ``key`` is free; False when it exists."""

    @abc.abstractmethod
    async def _update(self, key: str, fn: Callable[[bytes | None], tuple[NewValue, T]]) -> T:
        """Atomically replace the value with fn(old)[0] and return fn(old)[1].

        ``None`` keeps the value, :data:`Delete.KEY` deletes the key. A written value has no
        time to live (like Redis ``SET`` without ``KEEPTTL``).
        """

    @abc.abstractmethod
    async def _set(self, key: str, value: bytes, ttl_s: float | None, when: SetWhen) -> bool:
        """Store ``value`` (expiring after ``ttl_s`` if given) if ``when`` holds; whether it was stored."""

    @abc.abstractmethod
    async def _delete(self, key: str) -> bool:
        """Delete the key; whether it existed."""

    @abc.abstractmethod
    async def _ttl(self, key: str) -> float | None:
        """Seconds the key has left to live; None when it is absent or has no time to live."""

    @abc.abstractmethod
    async def _index_add(self, index: str, member: str) -> None: ...

    @abc.abstractmethod
    async def _index_remove(self, index: str, member: str) -> bool:
        """Remove ``member``; whether it was there."""

    @abc.abstractmethod
    async def _index_members(self, index: str) -> list[str]: ...

    @abc.abstractmethod
    async def publish(self, event: Event) -> None: ...

    @abc.abstractmethod
    async def subscribe(self) -> EventSubscription: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    # ------------------------------------------------------------ raw records (the cluster registry)

    async def get_raw(self, key: str) -> bytes | None:
        return await self._get(key)

    async def get_raw_many(self, keys: list[str]) -> list[bytes | None]:
        return await self._get_many(keys) if keys else []

    async def set_raw(
        self, key: str, value: bytes, *, ttl_s: float | None = None, when: SetWhen = SetWhen.ALWAYS
    ) -> bool:
        """Store ``value``, expiring after ``ttl_s`` seconds if given; False when ``when`` failed."""
        if ttl_s is not None and ttl_s <= 0:
            raise ValueError(f"ttl_s must be positive, got {ttl_s}")
        return await self._set(key, value, ttl_s, when)

    async def delete_raw(self, key: str) -> bool:
        return await self._delete(key)

    async def ttl_raw(self, key: str) -> float | None:
        """Seconds ``key`` has left to live, by the store's clock; None if absent or without one."""
        return await self._ttl(key)

    async def delete_raw_if(self, key: str, expected: bytes) -> bool:
        """Delete the key only if it still holds ``expected`` (compare-and-delete)."""

        def apply(old: bytes | None) -> tuple[NewValue, bool]:
            return (Delete.KEY, True) if old == expected else (None, False)

        return await self._update(key, apply)

    async def update_raw(self, key: str, fn: Callable[[bytes | None], tuple[NewValue, T]]) -> T:
        """Atomic read-modify-write of one key; ``fn`` is pure and may run more than once."""
        return await self._update(key, fn)

    async def index_add(self, index: str, member: str) -> None:
        await self._index_add(index, member)

    async def index_remove(self, index: str, member: str) -> bool:
        return await self._index_remove(index, member)

    async def index_members(self, index: str) -> list[str]:
        return await self._index_members(index)

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
        if self._keys_file is not None:
            self._keys_file.put(record)
            return
        if not await self._put_new(f"apikey:{record.key_id}", pack(to_dict(record))):
            raise StoreError(f"API key id {record.key_id} already exists")
        await self._index_add(APIKEY_INDEX, record.key_id)

    async def get_api_key(self, key_id: str) -> ApiKeyRecord | None:
        if self._keys_file is not None:
            return self._keys_file.get(key_id)
        raw = await self._get(f"apikey:{key_id}")
        return None if raw is None else apikey_from_dict(unpack(raw))

    async def list_api_keys(self) -> list[ApiKeyRecord]:
        """Every key's record (hashes only); keys created before the index existed are not listed."""
        if self._keys_file is not None:
            return self._keys_file.list()
        ids = sorted(await self._index_members(APIKEY_INDEX))
        raws = await self._get_many([f"apikey:{key_id}" for key_id in ids]) if ids else []
        return [apikey_from_dict(unpack(raw)) for raw in raws if raw is not None]

    async def delete_api_key(self, key_id: str) -> bool:
        """Revoke: the record is gone, so the next request with the key is refused. Whether it existed."""
        if self._keys_file is not None:
            return self._keys_file.delete(key_id)
        existed = await self._delete(f"apikey:{key_id}")
        await self._index_remove(APIKEY_INDEX, key_id)
        return existed

    # ------------------------------------------------------------ consultation records (lists)

    @abc.abstractmethod
    async def _records_append(self, key: str, value: bytes, max_items: int, expires_at: float) -> int | None:
        """Append ``value`` unless the list holds ``max_items`` already (then None); the list
        expires at ``expires_at`` (unix seconds). Returns the new length."""

    @abc.abstractmethod
    async def _records_read(self, key: str) -> list[bytes]:
        """The whole list, oldest first ([] when absent or expired)."""

    @abc.abstractmethod
    async def _records_take(self, key: str) -> list[bytes]:
        """Read the whole list and delete it in one atomic step (one caller gets it)."""

