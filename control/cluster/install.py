"""Wiring of the cluster into one worker's application (called by control/app.py).

What it adds to the app: the :class:`~control.cluster.worker.Worker` (lease, rooms, drain),
the entrance router of ``/ws``, the internal endpoint (its own listener on
``cluster.internal_host``, only when the store is shared), ``/healthz`` answering
``draining``, the signed admin routes ``GET /cluster/nodes`` and ``POST /cluster/drain``,
and the cluster's figures on ``/metrics``. With the memory store the registry holds this
one worker: every room is placed on it, by the same code.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from aiohttp import web

from control import metrics
from control.cluster import admin, internal, node_metrics
from control.cluster.auth import derive_key
from control.cluster.config import ClusterConfig
from control.cluster.entrance import EntranceRouter, OwnerRouter
from control.cluster.options import WorkerOptions
from control.cluster.records import new_worker_id
from control.cluster.registry import ClusterRegistry
from control.cluster.worker import Worker
from control.store import Store
from control.store.memory import MemoryStore
from control.ws import ROUTER
from sfu import MediaServer
from signalling.lobby import JoinContext

log = logging.getLogger(__name__)


@dataclass
class ClusterHandle:
    """What the process's main loop (``serve``) and the admin routes use."""

    worker: Worker
    entrance: EntranceRouter
    owner: OwnerRouter
    options: WorkerOptions
    shared: bool
    #: the cluster key (signs forwarded sockets and sibling scrapes)
    key: bytes = b""
    #: set when this worker has drained (its main loop then stops the server)
    drained: asyncio.Event = field(default_factory=asyncio.Event)
    #: asks the supervisor to drain the whole node (set by the supervised worker's main loop)
    ask_supervisor: Callable[[float], None] | None = None
    _drains: set[asyncio.Task[None]] = field(default_factory=set)

    def request_drain(self, grace_s: float) -> None:
        """Drain the node: through the supervisor when there is one, else this worker."""
        if self.ask_supervisor is not None:
            self.ask_supervisor(grace_s)
        else:
            self.drain_here(grace_s)

    def drain_here(self, grace_s: float) -> None:
        """Drain this worker (a second request brings the deadline forward, never later)."""

        async def run() -> None:
            await self.worker.drain(grace_s)
            self.drained.set()

        task = asyncio.create_task(run(), name="cluster-drain")
        self._drains.add(task)
        task.add_done_callback(self._drains.discard)

    async def cancel_drains(self) -> None:
        for task in list(self._drains):
            task.cancel()
        await asyncio.gather(*self._drains, return_exceptions=True)


CLUSTER = web.AppKey("cluster", ClusterHandle)


def install_cluster(
    app: web.Application,
    *,
    config: ClusterConfig,
    store: Store,
    media: MediaServer,
    verify_token: Callable[[str], JoinContext],
    secret: str,
    node_port: int,
    options: WorkerOptions,
) -> ClusterHandle:
    shared = not isinstance(store, MemoryStore)
    node = config.resolved_node_name(node_port)
    registry = ClusterRegistry(store)
    worker = Worker(
        registry,
        config,
        worker_id=new_worker_id(node, options.index),
        node=node,
        index=options.index,
        pid=os.getpid(),
        internal_url="",  # known once the internal listener is bound (start-up below)
        ice_addresses=media.config.ice.announced(),
        gauges=media.gauges,
    )
    key = derive_key(secret, "cluster")
    handle = ClusterHandle(
        worker=worker,
        entrance=EntranceRouter(worker, verify_token, key),
        owner=OwnerRouter(worker, verify_token),
        options=options,
        shared=shared,
        key=key,
    )
    app[CLUSTER] = handle
    app[ROUTER] = handle.entrance
    app[metrics.STATUS] = lambda: "draining" if worker.draining else None
    admin.install(app, derive_key(secret, "admin"))
    metrics.add_source(app, lambda: cluster_samples(handle))
    if options.workers > 1:
        app[metrics.RENDERER] = node_metrics.render_node

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        runner: web.AppRunner | None = None
        if shared:
            runner, url = await internal.start(app, handle, key, config, options.index)
            worker.internal_url = url
        await worker.start()
        try:
            yield
        finally:
            await handle.cancel_drains()
            await worker.close()
            await handle.entrance.close()
            if runner is not None:
                await runner.cleanup()

    app.cleanup_ctx.append(lifecycle)
    return handle


def cluster_samples(handle: ClusterHandle) -> list[metrics.Sample]:
    registry = handle.worker.registry.counters
    worker = handle.worker.counters
    return [
        metrics.Sample("cluster_placements_total", "counter", "rooms placed by this worker (first joins, dead owners replaced)", registry.placements),
        metrics.Sample("cluster_owners_replaced_total", "counter", "rooms placed again because their owner's lease expired", registry.owners_replaced),
        metrics.Sample("cluster_workers_lost_total", "counter", "workers found without a lease (killed or cut off; counted once in the cluster)", registry.workers_lost),
        metrics.Sample("cluster_moves_total", "counter", "participants told to reconnect elsewhere (drain, room placed elsewhere)", worker.moves),
        metrics.Sample("cluster_leases_lost_total", "counter", "lease renewals that found the lease gone (store restarted or unreachable)", worker.leases_lost),
        metrics.Sample("cluster_forwarded_joins_total", "counter", "joins this entrance forwarded to another worker", handle.entrance.forwarded),
        metrics.Sample("cluster_rooms_owned", "gauge", "rooms placed on this worker", sum(1 for r in handle.worker.rooms.values() if r.claimed)),
        metrics.Sample("cluster_pipes", "gauge", "client sockets this entrance pipes to other workers", len(handle.worker.pipes)),
        metrics.Sample("cluster_draining", "gauge", "1 while this worker drains", 1 if handle.worker.draining else 0),
        metrics.Sample("cluster_store_ok", "gauge", "0 while the store (Redis) cannot be reached", 1 if handle.worker.store_ok else 0),
    ]
