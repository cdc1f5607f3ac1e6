"""One media worker in the cluster: its lease, the rooms it owns, its drain.

The asyncio shell around :mod:`control.cluster.registry` for the process it runs in:

* **Lease**: registered at start, renewed every ``heartbeat_s`` (one store write), and at
  once (at most every :data:`MIN_REFRESH_S`) when it gains or loses a room or starts
  draining, so placements made a moment later see fresh figures. Deleted at a clean exit.
* **Rooms**: a room is *held* while connections for it run here (participants in the call
  or waiting, whether their socket came straight here or through another entrance).
  :meth:`accept` checks (or takes) the placement before the first one; the last
  :meth:`release` frees the placement (compare-and-delete). One lock per room orders the two.
* **Store faults**: nothing on the media path needs the store. A failed renewal is retried
  every period; when the store answers again and the lease turns out lost (Redis restarted,
  or the worker was cut off longer than a lease), the worker registers again and takes its
  rooms' placements back — a room placed elsewhere meanwhile has its local participants
  moved there (their sockets close with 1012 and they reconnect through any entrance).
* **Drain**: no new rooms (the lease says ``draining``), rooms run until they end or the
  deadline; then their placements are freed and their participants moved — or, when no
  other worker can take them, told the server shuts down (``bye`` ``server_shutdown``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from control.cluster.config import ClusterConfig
from control.cluster.placement import eligible
from control.cluster.records import Caps, WorkerRecord
from control.cluster.registry import ClusterRegistry
from control.store import StoreError

log = logging.getLogger(__name__)

#: Fastest out-of-period lease refresh (room gained or lost, drain started).
MIN_REFRESH_S = 0.1


class LocalConnection(Protocol):
    """A participant's connection served by this worker (or piped through it)."""

    async def move(self) -> None:
        """Close with 1012: the client reconnects at once and reaches the room's owner."""

    async def shut_down(self) -> None:
        """``bye`` ``server_shutdown``, then close (no other worker can take the room)."""


@dataclass
class _Room:
    claimed: bool = False
    holds: int = 0
    pending: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    connections: set[LocalConnection] = field(default_factory=set)


@dataclass
class WorkerCounters:
    moves: int = 0  # connections told to reconnect elsewhere (drain, a room placed elsewhere)
    leases_lost: int = 0  # renewals that found the lease gone (store restarted, long cut-off)
    drains: int = 0

    def dump(self) -> dict[str, int]:
        return {"moves": self.moves, "leases_lost": self.leases_lost, "drains": self.drains}


class CpuMeter:
    """Share of one core used between two samples (sans-I/O: CPU seconds and ``now`` passed in)."""

    def __init__(self) -> None:
        self._last: tuple[float, float] | None = None
        self.share = 0.0

    def sample(self, cpu_s: float, now: float) -> float:
        if self._last is not None and now > self._last[1]:
            self.share = max(0.0, (cpu_s - self._last[0]) / (now - self._last[1]))
        self._last = (cpu_s, now)
        return self.share


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class Worker:
    def __init__(
        self,
        registry: ClusterRegistry,
        config: ClusterConfig,
        *,
        worker_id: str,
        node: str,
        index: int,
        pid: int,
        internal_url: str,
        ice_addresses: tuple[str, ...],
        gauges: Callable[[], dict[str, int]],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.registry = registry
        self.config = config
        self.worker_id = worker_id
        self.node = node
        self.index = index
        self.pid = pid
        self.internal_url = internal_url
        self.ice_addresses = ice_addresses
        self._gauges = gauges
        self._clock = clock
        self.started_at = clock()
        self.rooms: dict[str, _Room] = {}
        self.pipes: set[LocalConnection] = set()
        self.counters = WorkerCounters()
        self.cpu = CpuMeter()
        self.draining = False
        self.drain_deadline: float | None = None
        self.moving_out = False  # past the drain deadline: no joins accepted any more
        #: called at the drain deadline, before anyone is moved: stop accepting connections, so
        #: participants re-joining reach another node (the listener stayed open until then,
        #: answering /healthz 503 ``draining``)
        self.on_moving_out: Callable[[], Awaitable[None]] | None = None
        self.store_ok = True
        self._registered = False
        self._wakeup: asyncio.Future[None] | None = None
        self._refresh_requested = False
        self._stopping = False
        self._drained = asyncio.Event()
        self._deadline_changed = asyncio.Event()
        self._heartbeat: asyncio.Task[None] | None = None
        self._last_write = 0.0

    # ------------------------------------------------------------ lifecycle

    def record(self) -> WorkerRecord:
        gauges = self._gauges()
        return WorkerRecord(
            worker_id=self.worker_id,
            node=self.node,
            index=self.index,
            pid=self.pid,
            internal_url=self.internal_url,
            ice_addresses=self.ice_addresses,
            started_at=self.started_at,
            renewed_at=self._clock(),
            lease_s=self.config.lease_s,
            heartbeat_s=self.config.heartbeat_s,
            cpu=round(self.cpu.share, 4),
            streams=gauges.get("consumers", 0),
            rooms=sum(1 for r in self.rooms.values() if r.claimed),
            participants=gauges.get("participants", 0),
            draining=self.draining,
            caps=Caps(self.config.max_participants, self.config.max_streams, self.config.max_cpu),
        )

    async def start(self) -> None:
        """Register (if the store is down, the heartbeat keeps trying) and start the heartbeat."""
        self.cpu.sample(time.process_time(), time.monotonic())
        await self._write_lease()
        self._heartbeat = asyncio.create_task(self._beat(), name="cluster-heartbeat")

    async def close(self) -> None:
        self._stopping = True
        if self._heartbeat is not None:
            # A renewal in flight may swallow one cancel (redis-py can): ask until it is gone.
            while not self._heartbeat.done():
                self._heartbeat.cancel()
                await asyncio.wait({self._heartbeat}, timeout=1.0)
            with contextlib.suppress(asyncio.CancelledError):
                self._heartbeat.result()
            self._heartbeat = None
        try:
            await self.registry.remove_worker(self.worker_id)
        except StoreError as exc:
            log.warning("could not delete this worker's lease (it expires in %.0f s): %s", self.config.lease_s, exc)

    def refresh_soon(self) -> None:
        self._refresh_requested = True
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    async def _beat(self) -> None:
        # A plain future with a timer rather than wait_for on an Event: Python 3.11's
        # wait_for can swallow a cancel that arrives as the event is set.
        loop = asyncio.get_running_loop()
        while not self._stopping:
            if not self._refresh_requested:
                self._wakeup = loop.create_future()
                timer = loop.call_later(self.config.heartbeat_s, _wake, self._wakeup)
                try:
                    await self._wakeup
                finally:
                    timer.cancel()
            wait = MIN_REFRESH_S - (time.monotonic() - self._last_write)
            if wait > 0:
                await asyncio.sleep(wait)
            self._refresh_requested = False
            self.cpu.sample(time.process_time(), time.monotonic())
            await self._write_lease()

    async def _write_lease(self) -> None:
        self._last_write = time.monotonic()
        record = self.record()
        try:
            if self._registered and await self.registry.renew(record):
                self._store_back()
                return
            if self._registered:
                self.counters.leases_lost += 1
                log.warning("worker %s: lease lost (store restarted or unreachable too long): registering again", self.worker_id)
            await self.registry.register(record)
            self._registered = True
            self._store_back()
            await self._reclaim_rooms()
        except StoreError as exc:
            if self.store_ok:
                log.error("worker %s: cannot renew the lease: %s (media goes on; new joins are refused)", self.worker_id, exc)
            self.store_ok = False

    def _store_back(self) -> None:
        if not self.store_ok:
            log.warning("worker %s: the store answers again", self.worker_id)
        self.store_ok = True

    async def _reclaim_rooms(self) -> None:
        """After a lost lease: take our rooms' placements back, or move them to their new owner."""
        for name, room in list(self.rooms.items()):
            if not room.claimed:
                continue
            async with room.lock:
                owner = await self.registry.claim(name, self.worker_id)
                if owner != self.worker_id:
                    log.warning("room %s was placed on %s meanwhile: moving its participants there", name, owner)
                    room.claimed = False
                    await self._move_all(list(room.connections))

    # ------------------------------------------------------------ rooms

    async def accept(self, name: str, *, placed_here: bool = False) -> bool:
        """May a join for ``name`` be served here? Holds the room if so (:meth:`release` after).

        ``placed_here``: the caller just resolved the placement to this worker. Otherwise
        the placement is checked (a forwarded join whose entrance looked a moment ago), and
        taken if free — unless this worker is draining. StoreError when the store is down
        and the room is not held here already.
        """
        room = self.rooms.setdefault(name, _Room())
        room.pending += 1
        try:
            async with room.lock:
                if self.moving_out:
                    return False
                if not room.claimed:
                    owner = self.worker_id if placed_here else await self.registry.owner_of(name)
                    if owner is None and not self.draining:
                        owner = await self.registry.claim(name, self.worker_id)
                    if owner != self.worker_id:
                        return False
                    room.claimed = True
                    self.refresh_soon()
                room.holds += 1
                return True
        finally:
            room.pending -= 1
            self._forget_if_idle(name, room)

    async def release(self, name: str) -> None:
        room = self.rooms.get(name)
        if room is None:
            return
        room.holds -= 1
        if room.holds > 0:
            return
        async with room.lock:
            if room.holds == 0 and room.claimed:
                room.claimed = False
                self.refresh_soon()
                try:
                    await self.registry.release(name, self.worker_id)
                except StoreError as exc:
                    # The placement keeps naming us; a later join finds us alive and we take it back.
                    log.warning("room %s: could not free its placement: %s", name, exc)
        self._forget_if_idle(name, room)
        if self.draining and not self.rooms and not self.pipes:
            self._drained.set()

    def _forget_if_idle(self, name: str, room: _Room) -> None:
        if room.holds == 0 and room.pending == 0 and not room.claimed and not room.connections and self.rooms.get(name) is room:
            del self.rooms[name]

    def attach(self, name: str, connection: LocalConnection) -> None:
        self.rooms.setdefault(name, _Room()).connections.add(connection)

    def detach(self, name: str, connection: LocalConnection) -> None:
        room = self.rooms.get(name)
        if room is not None:
            room.connections.discard(connection)
            self._forget_if_idle(name, room)

    def add_pipe(self, connection: LocalConnection) -> None:
        self.pipes.add(connection)

    def remove_pipe(self, connection: LocalConnection) -> None:
        self.pipes.discard(connection)
        if self.draining and not self.rooms and not self.pipes:
            self._drained.set()

    async def _move_all(self, connections: list[LocalConnection]) -> None:
        self.counters.moves += len(connections)
        await asyncio.gather(*(c.move() for c in connections), return_exceptions=True)

    # ------------------------------------------------------------ drain

    async def drain(self, grace_s: float) -> None:
        """Stop taking rooms; let them run ``grace_s``; then move (or shut down) what is left.

        A second call while draining brings the deadline forward (never later). Returns once
        nothing runs here any more.
        """
        now = self._clock()
        deadline = now + grace_s
        if self.draining:
            if self.drain_deadline is not None and deadline < self.drain_deadline:
                self.drain_deadline = deadline
                self._deadline_changed.set()
            await self._drained.wait()
            return
        self.draining = True
        self.drain_deadline = deadline
        self.counters.drains += 1
        log.warning("worker %s: draining (deadline in %.0f s); no new rooms here", self.worker_id, grace_s)
        self.refresh_soon()
        if not self.rooms and not self.pipes:
            self._drained.set()
        while not self._drained.is_set():
            remaining = self.drain_deadline - self._clock()
            if remaining <= 0:
                break
            self._deadline_changed.clear()
            waits = {asyncio.ensure_future(self._drained.wait()), asyncio.ensure_future(self._deadline_changed.wait())}
            try:
                await asyncio.wait(waits, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waits:
                    w.cancel()
                await asyncio.gather(*waits, return_exceptions=True)
        if not self._drained.is_set():
            await self._move_out()

    async def _move_out(self) -> None:
        self.moving_out = True
        if self.on_moving_out is not None:
            try:
                await self.on_moving_out()
            except Exception:
                log.exception("worker %s: could not stop listening", self.worker_id)
        elsewhere = await self._others_available()
        rooms = list(self.rooms.items())
        log.warning(
            "worker %s: drain deadline: %s %d room(s)", self.worker_id,
            "moving" if elsewhere else "shutting down", len(rooms),
        )
        for name, room in rooms:
            if room.claimed:
                try:
                    await self.registry.release(name, self.worker_id)
                except StoreError as exc:
                    log.warning("room %s: could not free its placement: %s", name, exc)
        connections = [c for _, room in rooms for c in room.connections]
        if elsewhere:
            await self._move_all(connections + list(self.pipes))
        else:
            await asyncio.gather(*(c.shut_down() for c in connections), return_exceptions=True)
            await asyncio.gather(*(c.move() for c in list(self.pipes)), return_exceptions=True)
        self._drained.set()

    async def _others_available(self) -> bool:
        try:
            workers = await self.registry.workers()
        except StoreError:
            return False
        now = self._clock()
        return any(w.worker_id != self.worker_id and eligible(w, now) for w in workers)
