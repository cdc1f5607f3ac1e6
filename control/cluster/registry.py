"""The cluster registry: workers' leases and rooms' placements, written once on the Store.

It uses only the store's raw records (:meth:`control.store.Store.set_raw` and friends), so the
same code runs on the memory store (one worker: every room is placed on itself) and on
Redis (one server, Sentinel or Cluster: every operation touches one key).

* **Lease**: a worker's record under ``worker:{w}:<id>`` with a time to live, renewed by the
  heartbeat with ``SET ... XX`` (one write per period; a ``False`` means the lease was lost:
  Redis restarted, or the worker was cut off longer than the lease, and it registers again).
* **Placement**: ``placement:<room>`` names the owner. A free room is placed with
  ``SET NX``, so two first joins at two entrances at the same moment agree on one owner. A
  dead owner (no lease) is replaced by one atomic update of that key that re-checks it still
  names the dead worker. A room left empty is released by compare-and-delete.

Redis operations: resolving a placed room 2 (placement, owner's record; 1 when the
entrance owns it); placing a new room 4 (placement, index, records, SET NX); releasing 1
transaction (WATCH, GET, MULTI/DEL/EXEC).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from control.cluster.placement import choose_worker, is_live
from control.cluster.records import (
    WORKERS_INDEX,
    WorkerRecord,
    placement_key,
    worker_key,
)
from control.store import Store
from control.store.base import NewValue, SetWhen

log = logging.getLogger(__name__)

#: Attempts at resolving one room before giving up (each lost race costs one).
MAX_RESOLVE_ATTEMPTS = 5


class NoWorkerAvailable(Exception):
    """No live worker may take a new room (all draining, at their caps, or none registered)."""


@dataclass
class RegistryCounters:
    placements: int = 0
    owners_replaced: int = 0
    workers_lost: int = 0

    def dump(self) -> dict[str, int]:
        return {"placements": self.placements, "owners_replaced": self.owners_replaced, "workers_lost": self.workers_lost}


@dataclass(frozen=True)
class Resolution:
    owner: WorkerRecord
    #: this call placed the room (first join, or a dead owner replaced)
    placed: bool = False


@dataclass
class ClusterRegistry:
    store: Store
    clock: Callable[[], float] = time.time
    rand: Callable[[], float] = random.random
    counters: RegistryCounters = field(default_factory=RegistryCounters)

    # ------------------------------------------------------------ leases

    async def register(self, record: WorkerRecord) -> None:
        await self.store.set_raw(worker_key(record.worker_id), record.to_bytes(), ttl_s=record.lease_s)
        await self.store.index_add(WORKERS_INDEX, record.worker_id)

    async def renew(self, record: WorkerRecord) -> bool:
        """Renew the lease with the current figures; False if it had expired (register again)."""
        return await self.store.set_raw(
            worker_key(record.worker_id), record.to_bytes(), ttl_s=record.lease_s, when=SetWhen.EXISTS
        )

    async def remove_worker(self, worker_id: str) -> None:
        """A worker that exits (or its supervisor, for a crashed one): its rooms are free at once."""
        await self.store.delete_raw(worker_key(worker_id))
        await self.store.index_remove(WORKERS_INDEX, worker_id)

    async def worker(self, worker_id: str) -> WorkerRecord | None:
        raw = await self.store.get_raw(worker_key(worker_id))
        return None if raw is None else WorkerRecord.from_bytes(raw)

    async def workers(self) -> list[WorkerRecord]:
        """Every worker with a lease; index entries whose lease is gone are pruned and counted."""
        ids = sorted(await self.store.index_members(WORKERS_INDEX))
        raws = await self.store.get_raw_many([worker_key(i) for i in ids])
        found: list[WorkerRecord] = []
        for worker_id, raw in zip(ids, raws, strict=True):
            if raw is not None:
                found.append(WorkerRecord.from_bytes(raw))
            elif await self.store.index_remove(WORKERS_INDEX, worker_id):
                self.counters.workers_lost += 1  # counted once in the cluster: by whoever removed it
                log.warning("worker %s is gone (its lease expired)", worker_id)
        return found

    # ------------------------------------------------------------ placements

    async def owner_of(self, room: str) -> str | None:
        raw = await self.store.get_raw(placement_key(room))
        return None if raw is None else raw.decode()

    async def claim(self, room: str, worker_id: str) -> str:
        """Place ``room`` on ``worker_id`` if it is free; the owner after the call."""
        if await self.store.set_raw(placement_key(room), worker_id.encode(), when=SetWhen.NEW):
            self.counters.placements += 1
            return worker_id
        owner = await self.owner_of(room)
        if owner is None:  # released in between: try once more
            return await self.claim(room, worker_id)
        return owner

    async def release(self, room: str, worker_id: str) -> bool:
        """The room is empty on its owner: free its placement (only if it still names the owner)."""
        return await self.store.delete_raw_if(placement_key(room), worker_id.encode())

    async def _replace(self, room: str, dead: str, new: str) -> str:
        def apply(old: bytes | None) -> tuple[NewValue, str]:
            if old == dead.encode():
                return new.encode(), new
            return None, "" if old is None else old.decode()

        owner = await self.store.update_raw(placement_key(room), apply)
        if owner == new:
            self.counters.owners_replaced += 1
            log.warning("room %s: owner %s is gone; placed again on %s", room, dead, new)
        return owner

    async def resolve(
        self, room: str, me: WorkerRecord, *, suspects: Collection[str] = ()
    ) -> Resolution:
        """The owner of ``room``, placing it first if it is free or its owner is dead.

        ``me`` is the asking worker's current record (the entrance). ``suspects`` are
        workers whose internal endpoint refused the caller's connection: never chosen for a
        new placement, and an owner among them is taken as dead once its lease has also
        missed a renewal (:meth:`_missed_renewal`) — two signals that the process is gone,
        since a live worker keeps its listener open and renews every ``heartbeat_s``. Any
        other owner is replaced only once its lease is gone (a room must never have two
        owners). The caller retries meanwhile. Raises :class:`NoWorkerAvailable`, or
        StoreError when the store is unreachable.
        """
        for _ in range(MAX_RESOLVE_ATTEMPTS):
            owner_id = await self.owner_of(room)
            if owner_id == me.worker_id:
                return Resolution(me)
            if owner_id:
                record = await self.worker(owner_id)
                if record is not None and is_live(record, self.clock()):
                    if owner_id not in suspects or not await self._missed_renewal(record):
                        return Resolution(record)
            choice = await self._choose(me, exclude=set(suspects) | ({owner_id} if owner_id else set()))
            if not owner_id:
                if await self.store.set_raw(placement_key(room), choice.worker_id.encode(), when=SetWhen.NEW):
                    self.counters.placements += 1
                    return Resolution(choice, placed=True)
                continue  # another entrance placed it meanwhile: look again
            now_owner = await self._replace(room, owner_id, choice.worker_id)
            if now_owner == choice.worker_id:
                return Resolution(choice, placed=True)
        raise NoWorkerAvailable(f"room {room}: the placement kept changing; gave up after {MAX_RESOLVE_ATTEMPTS} tries")

    async def _missed_renewal(self, record: WorkerRecord) -> bool:
        """The lease was last renewed more than 1.5 heartbeats ago (by the store's clock: no skew)."""
        remaining = await self.store.ttl_raw(worker_key(record.worker_id))
        if remaining is None:
            return True
        return record.lease_s - remaining > 1.5 * record.heartbeat_s

    async def _choose(self, me: WorkerRecord, exclude: Collection[str]) -> WorkerRecord:
        records = [w for w in await self.workers() if w.worker_id not in exclude]
        if me.worker_id not in exclude:
            # our own view of ourselves is fresher than the store's (rooms gained a moment ago)
            records = [me if w.worker_id == me.worker_id else w for w in records]
            if all(w.worker_id != me.worker_id for w in records):
                records.append(me)
        choice = choose_worker(records, now=self.clock(), entrance=me.worker_id, rand=self.rand())
        if choice is None:
            raise NoWorkerAvailable("no media worker can take a new consultation now (draining or at capacity)")
        return choice
