"""When Redis is unreachable: the API answers 503 store_unavailable, the lobby refuses cleanly."""

from __future__ import annotations

import time

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from control import tokens
from control.api import setup_api
from control.plane import ControlPlane
from control.store.redis import RedisStore
from signalling.lobby import JoinContext
from tests.control.conftest import SECRET, RecordingHandle, free_port


async def test_redis_down_gives_503_and_unavailable() -> None:
    store = RedisStore(f"redis://127.0.0.1:{free_port()}/0", prefix="down:")
    plane = ControlPlane.build(store, secret=SECRET, public_url="http://127.0.0.1", clock=time.time)
    app = web.Application()
    app.cleanup_ctx.append(plane.lifecycle)
    setup_api(app, plane.consultations)
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    try:
        async with client.get("/v1/rooms", headers={"Authorization": "Bearer csk_0123456789abcdef_" + "A" * 43}) as resp:
            assert resp.status == 503
            assert (await resp.json())["error"]["code"] == "store_unavailable"
        async with client.get("/v1/openapi.json") as resp:
            assert resp.status == 200  # the document needs no store
        token = tokens.mint(SECRET, room="r1", identity="ann", role="client", extra={"org": "o"})
        claims = tokens.verify(SECRET, token)
        ctx = JoinContext(claims.room, claims.identity, claims.name, claims.role, claims.extra)
        decision = await plane.lobby.on_join(ctx, "p1", RecordingHandle(), time.time())
        assert decision.outcome == "refuse" and decision.reason == "unavailable"
        assert plane.lobby.dump() == {}
    finally:
        await client.close()
