"""Webhooks that outlive a restart, dead letters, timestamped signatures and secret rotation.

Real servers: ``consult-sfu serve`` processes sharing a real redis-server for the restart,
the application in-process otherwise; a real HTTP receiver on loopback.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from control.apikeys import create_key
from control.app import PLANE
from control.domain.rules import Event
from control.store.base import unpack
from control.store.redis import RedisStore
from control.webhook_outbox import PENDING_INDEX
from control.webhooks import (
    SIGNATURES_HEADER,
    TIMESTAMP_HEADER,
    WebhookConfig,
    WebhookDispatcher,
    verify,
    webhook_samples,
)
from tests.chat.processes import serving
from tests.control.conftest import free_port
from tests.support.server import running_server


class Receiver:
    def __init__(self) -> None:
        self.received: list[tuple[dict[str, Any], bytes, dict[str, str]]] = []

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.received.append((json.loads(body), body, dict(request.headers)))
        return web.Response(status=204)


async def receiver_on(port: int, receiver: Receiver) -> TestServer:
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    return server


async def call(http: aiohttp.ClientSession, method: str, url: str, key: str, body: Any = None) -> Any:
    async with http.request(method, url, json=body, headers={"Authorization": f"Bearer {key}"}) as resp:
        data = await resp.json()
        assert resp.status in (200, 201), data
        return data


async def until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.redis
@pytest.mark.long
async def test_a_delivery_queued_before_a_restart_is_sent_after_it(tmp_path: Path, redis_url: str) -> None:
    prefix = f"wh-{uuid.uuid4().hex[:8]}:"
    settings = {"store": "redis", "redis_url": redis_url, "redis_prefix": prefix, "cluster_drain_grace_s": "0"}
    store = RedisStore(redis_url, prefix=prefix)
    key = await create_key(store, "clinic", None)
    hook_port = free_port()  # nothing listens there yet: every attempt fails
    receiver = Receiver()
    try:
        async with serving(tmp_path / "a", **settings) as first, aiohttp.ClientSession() as http:
            config = await call(http, "PUT", first.http_url + "/v1/webhooks", key, {"urls": [f"http://127.0.0.1:{hook_port}/hook"]})
            room = await call(http, "POST", first.http_url + "/v1/rooms", key, {"kind": "quick"})

            async def attempted() -> bool:
                ids = await store.index_members(PENDING_INDEX)
                raws = await store.get_raw_many([f"webhook:{i}" for i in ids])
                return any(raw is not None and unpack(raw)["attempt"] >= 1 for raw in raws)

            await until(attempted, 20, "a failed first attempt kept in Redis")
        # the server is stopped; the receiver comes up; another server process starts
        hook = await receiver_on(hook_port, receiver)
        try:
            async with serving(tmp_path / "b", **settings):
                async def delivered() -> bool:
                    return any(p["event"] == "room_created" for p, _, _ in receiver.received)

                await until(delivered, 30, "the delivery after the restart")
        finally:
            await hook.close()
    finally:
        await store.close()
    payload, body, headers = next(r for r in receiver.received if r[0]["event"] == "room_created")
    assert payload["room"] == room["id"]
    assert verify(config["signing_secret"], body, headers[TIMESTAMP_HEADER], headers[SIGNATURES_HEADER])
    assert not await store_pending(redis_url, prefix)


async def store_pending(redis_url: str, prefix: str) -> list[str]:
    store = RedisStore(redis_url, prefix=prefix)
    try:
        return await store.index_members(PENDING_INDEX)
    finally:
        await store.close()


async def test_secret_rotation_signs_with_both_secrets_during_the_overlap(tmp_path: Path) -> None:
    receiver = Receiver()
    hook = await receiver_on(free_port(), receiver)
    try:
        async with running_server(tmp_path) as server, aiohttp.ClientSession() as http:
            key = await create_key(server.app[PLANE].store, "clinic", None)
            base = server.http_url + "/v1"
            first = await call(http, "PUT", base + "/webhooks", key, {"urls": [str(hook.make_url("/hook"))]})
            rotated = await call(http, "POST", base + "/webhooks/secret", key, {"overlap_s": 3600})
            old, new = first["signing_secret"], rotated["signing_secret"]
            assert new != old and rotated["previous_secret_valid_until"] == pytest.approx(time.time() + 3600, abs=60)
            await call(http, "POST", base + "/rooms", key, {"kind": "quick"})
            await server.app[PLANE].webhooks.drain()  # type: ignore[union-attr]
            _, body, headers = receiver.received[-1]
            stamp, signatures = headers[TIMESTAMP_HEADER], headers[SIGNATURES_HEADER]
            assert len(signatures.split(",")) == 2
            assert verify(new, body, stamp, signatures) and verify(old, body, stamp, signatures)
            assert not verify("whsec_other", body, stamp, signatures)
            assert not verify(new, body, stamp, signatures, now=int(stamp) + 301)  # a replay later is refused
            assert not verify(new, body.replace(b'"quick"', b'"walk_in"'), stamp, signatures)

            again = await call(http, "POST", base + "/webhooks/secret", key, {"overlap_s": 0})  # no overlap: the old one stops now
            assert again["previous_secret_valid_until"] is None
            await call(http, "POST", base + "/rooms", key, {"kind": "quick"})
            await server.app[PLANE].webhooks.drain()  # type: ignore[union-attr]
            _, body, headers = receiver.received[-1]
            assert verify(again["signing_secret"], body, headers[TIMESTAMP_HEADER], headers[SIGNATURES_HEADER])
            assert not verify(new, body, headers[TIMESTAMP_HEADER], headers[SIGNATURES_HEADER])
            figures = await server.metrics()
            assert figures["consult_sfu_webhook_deliveries_total"] == 2 and figures["consult_sfu_webhook_dead_letters_total"] == 0
    finally:
        await hook.close()


async def test_a_delivery_that_keeps_failing_becomes_a_dead_letter(tmp_path: Path) -> None:
    async with running_server(tmp_path) as server, aiohttp.ClientSession() as http:
        plane = server.app[PLANE]
        assert plane.webhooks is not None
        dispatcher = WebhookDispatcher(plane.store, WebhookConfig(max_attempts=3, backoff_base_s=0.01, backoff_max_s=0.02, timeout_s=1))
        await dispatcher.start()
        try:
            key = await create_key(plane.store, "clinic", None)
            await call(http, "PUT", server.http_url + "/v1/webhooks", key, {"urls": [f"http://127.0.0.1:{free_port()}/hook"]})
            await plane.webhooks.close()  # this test's dispatcher alone sends
            room = await call(http, "POST", server.http_url + "/v1/rooms", key, {"kind": "quick"})
            dispatcher.emit(_room_created(room["id"]))
            await asyncio.wait_for(dispatcher.drain(), 30)
            assert await dispatcher.counts() == {"pending": 0, "dead_letters": 1}
            assert (dispatcher.stats.failed, dispatcher.stats.retries, dispatcher.stats.delivered) == (1, 2, 0)
            figures = {sample.name: sample.value for sample in webhook_samples(dispatcher)}
            assert figures["webhook_dead_letters_total"] == 1 and figures["webhook_delivery_failures_total"] == 3
        finally:
            await dispatcher.close()


def _room_created(room_id: str) -> Event:
    return Event("room_created", "clinic", room_id, time.time())
