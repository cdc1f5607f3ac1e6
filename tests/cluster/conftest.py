"""Fixtures of the cluster tests: a Redis of the test session, and helpers over real nodes."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import aioice.ice
import pytest

from control.apikeys import create_key
from control.store.redis import RedisStore
from tests.control.conftest import redis_url  # noqa: F401  (the session's redis-server)

pytestmark = pytest.mark.redis


@pytest.fixture(autouse=True)
def loopback_ice(monkeypatch: pytest.MonkeyPatch) -> None:
    """aioice leaves 127.0.0.1 out of its host candidates; our peers live on loopback."""
    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda use_ipv4=True, use_ipv6=True: ["127.0.0.1"])


@contextlib.asynccontextmanager
async def api_client(base_url: str, redis: str, prefix: str) -> AsyncIterator[aiohttp.ClientSession]:
    """An HTTP client of one node's REST API with a fresh organisation key (stored in Redis)."""
    store = RedisStore(redis, prefix=prefix)
    key = await create_key(store, "clinic", None)
    await store.close()
    async with aiohttp.ClientSession(base_url=base_url, headers={"Authorization": f"Bearer {key}"}) as http:
        yield http


async def call(http: aiohttp.ClientSession, method: str, path: str, body: Any = None, status: int = 200) -> Any:
    async with http.request(method, path, json=body) as resp:
        data = await resp.json() if resp.status != 204 else None
        assert resp.status == status, data
        return data


async def appointment(http: aiohttp.ClientSession, **extra: Any) -> str:
    now = time.time()
    body = {
        "kind": "appointment", "practitioner": {"identity": "dr"}, "client": {"identity": "ann"},
        "starts_at": now + 600, "ends_at": now + 2400, **extra,
    }
    return str((await call(http, "POST", "/v1/rooms", body, status=201))["id"])


async def room_token(http: aiohttp.ClientSession, room: str, identity: str, role: str) -> str:
    issued = await call(http, "POST", f"/v1/rooms/{room}/tokens", {"identity": identity, "name": identity.title(), "role": role}, status=201)
    return str(issued["token"])
