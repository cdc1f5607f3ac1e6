"""The operator's cluster routes on the public port, signed with the admin key.

``consult-sfu nodes`` and ``consult-sfu drain`` (control/cluster/commands.py) sign their
requests with a key derived from ``server.secret`` (:mod:`control.cluster.auth`): whoever
can mint join tokens can list and drain nodes; nobody else can.

* ``GET /cluster/nodes``: every worker's record in the registry, with its lease age;
* ``POST /cluster/drain?grace_s=S``: drain the node that answers (all its workers).
"""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

from aiohttp import web

from control.cluster.auth import HEADER_SIGNATURE, HEADER_TIME, sign, verify
from control.store import StoreError

ADMIN_KEY = web.AppKey("cluster_admin_key", bytes)
MAX_GRACE_S = 24 * 3600.0


def admin_headers(key: bytes, method: str, path_qs: str, now: float) -> dict[str, str]:
    timestamp = f"{now:.3f}"
    return {HEADER_TIME: timestamp, HEADER_SIGNATURE: sign(key, timestamp, method, path_qs)}


def _check(request: web.Request) -> None:
    ok = verify(
        request.app[ADMIN_KEY],
        request.headers.get(HEADER_SIGNATURE, ""),
        request.headers.get(HEADER_TIME, ""),
        time.time(),
        request.method,
        request.path_qs,
    )
    if not ok:
        raise web.HTTPForbidden(
            text='{"error": {"code": "forbidden", "message": "admin requests must be signed with the server secret (consult-sfu nodes / drain)"}}',
            content_type="application/json",
        )


async def nodes(request: web.Request) -> web.Response:
    _check(request)
    from control.cluster.install import CLUSTER

    handle = request.app[CLUSTER]
    try:
        records = await handle.worker.registry.workers()
    except StoreError as exc:
        return web.json_response({"error": {"code": "unavailable", "message": f"the store is unreachable: {exc}"}}, status=503)
    now = time.time()
    workers: list[dict[str, Any]] = []
    for record in sorted(records, key=lambda r: (r.node, r.index, r.worker_id)):
        entry = asdict(record)
        entry["lease_age_s"] = round(record.age(now), 3)
        workers.append(entry)
    return web.json_response({"answered_by": handle.worker.worker_id, "workers": workers})


async def drain(request: web.Request) -> web.Response:
    _check(request)
    from control.cluster.install import CLUSTER

    handle = request.app[CLUSTER]
    text = request.query.get("grace_s")
    grace = handle.worker.config.drain_grace_s
    if text is not None:
        try:
            grace = float(text)
        except ValueError:
            grace = -1.0
        if not 0 <= grace <= MAX_GRACE_S:
            return web.json_response(
                {"error": {"code": "invalid_field", "message": f"grace_s must be 0 to {MAX_GRACE_S:.0f} seconds, got {text!r}"}},
                status=422,
            )
    handle.request_drain(grace)
    return web.json_response({"draining": True, "node": handle.worker.node, "grace_s": grace}, status=202)


def install(app: web.Application, key: bytes) -> None:
    app[ADMIN_KEY] = key
    app.router.add_get("/cluster/nodes", nodes)
    app.router.add_post("/cluster/drain", drain)
