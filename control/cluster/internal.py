"""A worker's internal endpoint: where entrances forward WebSockets, and siblings read figures.

Its own listener on ``cluster.internal_host`` (loopback by default; with several machines,
an address the other nodes reach, never a public one), port ``cluster.internal_port + index``
or any free port, announced in the worker's lease. Every request must be signed with the
cluster key (:mod:`control.cluster.auth`): a request without a valid signature gets 403,
so a client address in ``X-Consult-Client`` is trusted only from another worker.

* ``GET /internal/ws``: a participant's socket forwarded by an entrance; served like ``/ws``
  (control/ws.py) but only for rooms this worker owns (else closed with NOT_OWNER);
* ``GET /internal/metrics``: this worker's figures as JSON, for the node's ``/metrics``.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import TYPE_CHECKING

from aiohttp import web

from control import metrics
from control.cluster.auth import check_forward
from control.cluster.config import ClusterConfig
from control.ws import serve_websocket

if TYPE_CHECKING:
    from control.cluster.install import ClusterHandle

MAIN_APP = web.AppKey("main_app", web.Application)
KEY = web.AppKey("cluster_key", bytes)


def _signed(request: web.Request) -> tuple[str, str]:
    found = check_forward(request.app[KEY], dict(request.headers), time.time())
    if found is None:
        raise web.HTTPForbidden(text="unsigned request: the internal endpoint serves the cluster's workers only")
    return found


async def forwarded_ws(request: web.Request) -> web.StreamResponse:
    _, client = _signed(request)
    main = request.app[MAIN_APP]
    from control.cluster.install import CLUSTER

    return await serve_websocket(request, main, main[CLUSTER].owner, client)


async def worker_metrics(request: web.Request) -> web.Response:
    _signed(request)
    main = request.app[MAIN_APP]
    samples = metrics.all_samples(main)
    return web.json_response({"samples": [asdict(s) for s in samples]})


async def start(
    main: web.Application, handle: ClusterHandle, key: bytes, config: ClusterConfig, index: int
) -> tuple[web.AppRunner, str]:
    """Start the internal listener; (its runner, its base URL)."""
    app = web.Application()
    app[MAIN_APP] = main
    app[KEY] = key
    app.router.add_get("/internal/ws", forwarded_ws)
    app.router.add_get("/internal/metrics", worker_metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = config.internal_port + index if config.internal_port else 0
    site = web.TCPSite(runner, config.internal_host, port)
    await site.start()
    bound = port
    for address in runner.addresses:  # the port the OS chose for port 0
        bound = int(address[1])
    host = config.internal_host
    host = f"[{host}]" if ":" in host else host
    return runner, f"http://{host}:{bound}"
