"""``consult-sfu nodes`` and ``consult-sfu drain``: the operator's view of the cluster.

Both talk to a node's public port (``--url``, default ``http://<server.host>:<server.port>``,
``127.0.0.1`` for a wildcard host; ``https://`` when the node serves TLS itself) with requests
signed by a key derived from ``server.secret`` (control/cluster/admin.py), so they work the
same with the configured Redis and with a node's private one.

TLS: the node's certificate is checked against the system's CAs and ``server.tls_cert``
itself (a private or self-signed one); the default URL names an address, not the
certificate's name, so its host name is not compared (the request's signature is what
proves who is asking; the chain check keeps it from going to anything but our node).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from typing import Any

import aiohttp

from control.cluster.admin import admin_headers
from control.cluster.auth import derive_key
from control.config import Config, resolve_secret

POLL_S = 1.0


class CommandError(Exception):
    """The node could not be asked; the message says why."""


def node_url(config: Config, url: str | None) -> str:
    if url:
        return url.rstrip("/")
    host = config.server.host
    host = "127.0.0.1" if host in ("0.0.0.0", "") else ("[::1]" if host == "::" else host)
    host = f"[{host}]" if ":" in host and not host.startswith("[") else host
    scheme = "https" if config.server.tls_cert is not None else "http"
    return f"{scheme}://{host}:{config.server.port}"


def node_ssl(config: Config, url: str | None) -> ssl.SSLContext | bool:
    """What a request to the node verifies (see the module's docstring); True: the defaults."""
    if config.server.tls_cert is None:
        return True
    context = ssl.create_default_context()
    try:
        context.load_verify_locations(cafile=str(config.server.tls_cert))
    except (OSError, ssl.SSLError) as exc:
        raise CommandError(f"server.tls_cert {config.server.tls_cert} cannot be read to check the node: {exc}") from None
    if not url:
        context.check_hostname = False
    return context


async def _request(config: Config, method: str, base: str, path_qs: str, verify: ssl.SSLContext | bool = True) -> tuple[int, Any]:
    key = derive_key(resolve_secret(config), "admin")
    headers = admin_headers(key, method, path_qs, time.time())
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http, http.request(
            method, base + path_qs, headers=headers, ssl=verify
        ) as resp:
            body = await resp.json(content_type=None)
            return resp.status, body
    except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
        raise CommandError(f"cannot reach the node at {base}: {exc}") from None


def _error(status: int, body: Any) -> str:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return f"{body['error'].get('code')}: {body['error'].get('message')}"
    return f"HTTP {status}"


async def list_nodes(config: Config, url: str | None) -> dict[str, Any]:
    status, body = await _request(config, "GET", node_url(config, url), "/cluster/nodes", node_ssl(config, url))
    if status != 200:
        raise CommandError(f"the node refused: {_error(status, body)}")
    return body  # type: ignore[no-any-return]


def format_nodes(body: dict[str, Any]) -> str:
    rows = [("NODE", "WORKER", "PID", "STATE", "ROOMS", "PARTICIPANTS", "STREAMS", "CPU", "LEASE AGE", "INTERNAL URL")]
    for w in body.get("workers", []):
        rows.append((
            str(w["node"]), str(w["index"]), str(w["pid"]), "draining" if w["draining"] else "serving",
            str(w["rooms"]), str(w["participants"]), str(w["streams"]), f"{100 * w['cpu']:.0f}%",
            f"{w['lease_age_s']:.1f} s", str(w["internal_url"] or "-"),
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    nodes = {w["node"] for w in body.get("workers", [])}
    lines.append(f"{len(nodes)} node(s), {len(body.get('workers', []))} worker(s)")
    return "\n".join(lines)


async def drain_node(config: Config, url: str | None, grace_s: float | None, wait: bool, out: Any) -> None:
    base = node_url(config, url)
    verify = node_ssl(config, url)
    path = "/cluster/drain" + ("" if grace_s is None else f"?grace_s={grace_s:g}")
    status, body = await _request(config, "POST", base, path, verify)
    if status != 202:
        raise CommandError(f"the node refused: {_error(status, body)}")
    print(f"node {body['node']} draining: new consultations go elsewhere; running ones have {body['grace_s']:g} s", file=out, flush=True)
    if not wait:
        return
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
        while True:
            try:
                async with http.get(base + "/healthz", ssl=verify) as resp:
                    health = await resp.json(content_type=None)
            except (aiohttp.ClientError, OSError, TimeoutError, ValueError):
                print("node stopped", file=out, flush=True)
                return
            print(f"  {health.get('status')}: {health.get('rooms', '?')} room(s), {health.get('participants', '?')} participant(s)", file=out, flush=True)
            await asyncio.sleep(POLL_S)
