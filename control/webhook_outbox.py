"""Where webhook deliveries wait: in the store (durable with Redis), or in process memory.

A delivery is one event's body for one URL, with its attempt count and the time of its next
attempt. :class:`StoreOutbox` keeps each under ``webhook:<id>`` with an index of pending
ids, so deliveries queued before a restart (or a crash) are sent by the restarted process,
or by any other process of the cluster. A process *claims* a due delivery before sending it
(an atomic update that sets ``claimed_until``); a claim of a process that died expires after
``lease_s`` and another process takes the delivery over. Deliveries that used up their
attempts become dead letters (``webhook:dead:<id>``, kept 7 days, counted).

:class:`MemoryOutbox` is the same in process memory: for the events whose body must never be
written anywhere (``chat_transcript``: what a consultation produces is forgotten at its end,
docs/architecture.md), and for tests. It does not survive a restart.
"""

from __future__ import annotations

import abc
import builtins
from dataclasses import asdict, dataclass, replace

from control.store import Store
from control.store.base import pack, unpack

PENDING_INDEX = "idx:webhooks"
DEAD_INDEX = "idx:webhooks:dead"
DEAD_TTL_S = 7 * 24 * 3600.0


@dataclass(frozen=True)
class Delivery:
    delivery_id: str
    org: str
    url: str
    event: str
    body: str
    attempt: int = 0  # attempts made so far
    next_at: float = 0.0  # unix seconds
    claimed_until: float = 0.0

    def key(self) -> str:
        return f"webhook:{self.delivery_id}"


def _load(raw: bytes) -> Delivery:
    return Delivery(**unpack(raw))


class Outbox(abc.ABC):
    @abc.abstractmethod
    async def put(self, delivery: Delivery) -> None: ...

    @abc.abstractmethod
    async def claim_due(self, now: float, lease_s: float, limit: int) -> builtins.list[Delivery]:
        """Up to ``limit`` deliveries due at ``now``, claimed by this process for ``lease_s``."""

    @abc.abstractmethod
    async def retry_at(self, delivery: Delivery, next_at: float) -> None: ...

    @abc.abstractmethod
    async def done(self, delivery: Delivery) -> None: ...

    @abc.abstractmethod
    async def dead(self, delivery: Delivery) -> None: ...

    @abc.abstractmethod
    async def counts(self) -> tuple[int, int]:
        """(pending, dead letters)."""

    async def next_due(self) -> float | None:
        """When the earliest pending delivery is due (None: nothing pending)."""
        return None


class StoreOutbox(Outbox):
    def __init__(self, store: Store) -> None:
        self._store = store

    async def put(self, delivery: Delivery) -> None:
        await self._store.set_raw(delivery.key(), pack(asdict(delivery)))
        await self._store.index_add(PENDING_INDEX, delivery.delivery_id)

    async def claim_due(self, now: float, lease_s: float, limit: int) -> builtins.list[Delivery]:
        ids = await self._store.index_members(PENDING_INDEX)
        if not ids or limit <= 0:
            return []
        raws = await self._store.get_raw_many([f"webhook:{i}" for i in ids])
        claimed: list[Delivery] = []
        for delivery_id, raw in zip(ids, raws, strict=True):
            if raw is None:  # done elsewhere meanwhile (or a stale index entry)
                await self._store.index_remove(PENDING_INDEX, delivery_id)
                continue
            seen = _load(raw)
            if seen.next_at > now or seen.claimed_until > now:
                continue
            got = await self._store.update_raw(seen.key(), lambda old: _claim(old, now, lease_s))
            if got is not None:
                claimed.append(got)
                if len(claimed) >= limit:
                    break
        return sorted(claimed, key=lambda d: d.next_at)

    async def retry_at(self, delivery: Delivery, next_at: float) -> None:
        await self._store.set_raw(delivery.key(), pack(asdict(replace(delivery, next_at=next_at, claimed_until=0.0))))

    async def done(self, delivery: Delivery) -> None:
        await self._store.delete_raw(delivery.key())
        await self._store.index_remove(PENDING_INDEX, delivery.delivery_id)

    async def dead(self, delivery: Delivery) -> None:
        await self._store.set_raw(f"webhook:dead:{delivery.delivery_id}", pack(asdict(delivery)), ttl_s=DEAD_TTL_S)
        await self._store.index_add(DEAD_INDEX, delivery.delivery_id)
        await self.done(delivery)

    async def counts(self) -> tuple[int, int]:
        return len(await self._store.index_members(PENDING_INDEX)), len(await self._store.index_members(DEAD_INDEX))


def _claim(old: bytes | None, now: float, lease_s: float) -> tuple[bytes | None, Delivery | None]:
    if old is None:
        return None, None
    current = _load(old)
    if current.next_at > now or current.claimed_until > now:
        return None, None  # another process claimed it first
    mine = replace(current, claimed_until=now + lease_s)
    return pack(asdict(mine)), mine


class MemoryOutbox(Outbox):
    def __init__(self) -> None:
        self._pending: dict[str, Delivery] = {}
        self._dead = 0

    async def put(self, delivery: Delivery) -> None:
        self._pending[delivery.delivery_id] = delivery

    async def claim_due(self, now: float, lease_s: float, limit: int) -> builtins.list[Delivery]:
        due = sorted((d for d in self._pending.values() if d.next_at <= now and d.claimed_until <= now), key=lambda d: d.next_at)
        claimed = [replace(d, claimed_until=now + lease_s) for d in due[: max(0, limit)]]
        self._pending.update({d.delivery_id: d for d in claimed})
        return claimed

    async def retry_at(self, delivery: Delivery, next_at: float) -> None:
        self._pending[delivery.delivery_id] = replace(delivery, next_at=next_at, claimed_until=0.0)

    async def done(self, delivery: Delivery) -> None:
        self._pending.pop(delivery.delivery_id, None)

    async def dead(self, delivery: Delivery) -> None:
        self._dead += 1
        await self.done(delivery)  # the body (a transcript) is forgotten, only counted

    async def counts(self) -> tuple[int, int]:
        return len(self._pending), self._dead

    async def next_due(self) -> float | None:
        return min((d.next_at for d in self._pending.values()), default=None)
