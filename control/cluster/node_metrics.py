"""``/metrics`` of a node with several workers: every worker's figures, labelled ``worker``.

The public port reaches whichever worker accepts the scrape, so that worker answers for the
whole node: its own samples and its siblings' (read from their internal endpoints, signed,
concurrently, 2 s at most each), one line per worker with ``worker="<index>"``. Sum them
in queries (``sum without (worker) (consult_sfu_rtp_packets_forwarded_total)``). A sibling
that does not answer in time is left out of that scrape (``consult_sfu_cluster_scrape_missing``
counts them). A node with one worker exports unlabelled figures, as a single process always did.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import aiohttp
from aiohttp import web

from control import metrics
from control.cluster.auth import forward_headers
from control.cluster.records import WorkerRecord
from control.store import StoreError

log = logging.getLogger(__name__)
SCRAPE_TIMEOUT_S = 2.0


async def render_node(app: web.Application) -> str:
    from control.cluster.install import CLUSTER

    handle = app[CLUSTER]
    worker = handle.worker
    by_worker: dict[str, list[metrics.Sample]] = {str(worker.index): metrics.all_samples(app)}
    try:
        siblings = [w for w in await worker.registry.workers() if w.node == worker.node and w.worker_id != worker.worker_id]
    except StoreError:
        siblings = []
    expected = max(0, handle.options.workers - 1)
    results = await asyncio.gather(*(_fetch(handle.key, worker.worker_id, w) for w in siblings))
    for record, samples in zip(siblings, results, strict=True):
        if samples is not None:
            by_worker[str(record.index)] = samples
    missing = expected - (len(by_worker) - 1)
    by_worker[str(worker.index)].append(
        metrics.Sample("cluster_scrape_missing", "gauge", "workers of this node whose figures this scrape could not read", max(0, missing))
    )
    return metrics.render_labelled(dict(sorted(by_worker.items(), key=lambda kv: int(kv[0]))), "worker")


async def _fetch(key: bytes, me: str, record: WorkerRecord) -> list[metrics.Sample] | None:
    if not record.internal_url:
        return None
    headers = forward_headers(key, me, "metrics", time.time())
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=SCRAPE_TIMEOUT_S)) as http, http.get(
            record.internal_url + "/internal/metrics", headers=headers
        ) as resp:
            if resp.status != 200:
                return None
            body: dict[str, Any] = await resp.json()
    except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
        log.info("metrics of worker %s unavailable: %s", record.worker_id, exc)
        return None
    return [metrics.Sample(s["name"], s["kind"], s["help"], float(s["value"])) for s in body.get("samples", [])]
