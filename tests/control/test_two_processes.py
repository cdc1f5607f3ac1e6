"""Two server processes sharing one Redis: an admission made through one process's API
reaches a client connected to the other; an end closes sessions everywhere."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from control import tokens
from control.api import setup_api
from control.apikeys import create_key
from control.plane import ControlPlane
from control.store.redis import RedisStore
from signalling.lobby import JoinContext
from tests.control.conftest import SECRET, FakeClock, RecordingHandle, eventually

pytestmark = pytest.mark.redis


@contextlib.asynccontextmanager
async def process(redis_url: str, prefix: str, clock: FakeClock) -> AsyncIterator[tuple[TestClient, ControlPlane]]:
    plane = ControlPlane.build(RedisStore(redis_url, prefix=prefix), secret=SECRET, public_url="http://x", clock=clock)
    app = web.Application()
    app.cleanup_ctx.append(plane.lifecycle)
    setup_api(app, plane.consultations)
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    try:
        yield client, plane
    finally:
        await client.close()


async def test_admit_in_one_process_reaches_a_session_in_the_other(redis_url: str) -> None:
    clock = FakeClock()
    prefix = f"two{uuid.uuid4().hex[:8]}:"
    async with process(redis_url, prefix, clock) as (api_a, plane_a), process(redis_url, prefix, clock) as (_, plane_b):
        key = await create_key(plane_a.store, "org1", None)
        headers = {"Authorization": f"Bearer {key}"}
        body = {"kind": "appointment", "practitioner": {"identity": "dr"}, "client": {"identity": "ann"}, "starts_at": clock.now + 600, "ends_at": clock.now + 1200}
        async with api_a.post("/v1/rooms", json=body, headers=headers) as resp:
            room = await resp.json()
        token = tokens.mint(SECRET, room=room["id"], identity="ann", role="client", now=clock.now, extra={"org": "org1"})
        claims = tokens.verify(SECRET, token, now=clock.now)
        handle = RecordingHandle()
        ctx = JoinContext(claims.room, claims.identity, claims.name, claims.role, claims.extra)
        decision = await plane_b.lobby.on_join(ctx, "pB1", handle, clock.now)  # connected to process B
        assert decision.outcome == "wait"
        async with api_a.get(f"/v1/rooms/{room['id']}/waiting", headers=headers) as resp:
            assert [e["participant_id"] for e in (await resp.json())["waiting"]] == ["pB1"]
        async with api_a.post(f"/v1/rooms/{room['id']}/waiting/pB1/admit", headers=headers) as resp:
            assert resp.status == 200
        await eventually(lambda: handle.admitted)
        async with api_a.post(f"/v1/rooms/{room['id']}/end", headers=headers) as resp:
            assert resp.status == 200
        await eventually(lambda: handle.closed is not None)
        assert handle.closed is not None and handle.closed[0] == "ended"
