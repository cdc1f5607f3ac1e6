"""Fixtures of the control-plane tests: every API test runs against both stores.

The Redis store is a real ``redis-server`` on a free loopback port, started once per
test session (no persistence); each test gets its own key prefix. Time is a
:class:`FakeClock` the test moves; nothing of ours is mocked.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from control.api import setup_api
from control.apikeys import create_key
from control.features.effects.api import EXTENSION as BACKGROUNDS_API
from control.features.effects.api import IMAGES_KEY
from control.features.effects.shared import SharedBackgrounds
from control.plane import ControlPlane
from control.store import Store
from control.store.memory import MemoryStore
from control.webhooks import WebhookConfig, WebhookDispatcher
from effects.config import EffectsConfig
from effects.images import BackgroundImageStore

SECRET = "test-secret-0123456789abcdef0123456789"
# The tests' "now": ten days in the past, so a test moving its clock forward never passes
# the real time (PyJWT refuses tokens whose "iat" lies in the real future).
T0 = float(int(time.time()) - 10 * 24 * 3600)


class FakeClock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed (Debian package redis-server)")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail("redis-server did not start")
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_store(store_kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    prefix = f"t{uuid.uuid4().hex[:10]}:"

    def make() -> Store:
        if store_kind == "memory":
            return MemoryStore(data_dir=tmp_path)
        from control.store.redis import RedisStore

        return RedisStore(request.getfixturevalue("redis_url"), prefix=prefix)

    return make


@dataclass
class Api:
    """A running API (real TestServer on 127.0.0.1) with keys for three callers."""

    client: TestClient
    plane: ControlPlane
    clock: FakeClock
    org_key: str
    dept_key: str
    other_dept_key: str
    other_org_key: str
    store_kind: str
    extra: dict[str, Any] = field(default_factory=dict)

    def headers(self, key: str | None) -> dict[str, str]:
        return {} if key is None else {"Authorization": f"Bearer {key}"}

    async def call(self, method: str, path: str, body: Any = None, key: str | None = "org") -> tuple[int, Any]:
        chosen = {
            "org": self.org_key,
            "dept": self.dept_key,
            "other_dept": self.other_dept_key,
            "other_org": self.other_org_key,
        }.get(key or "", key)
        kwargs: dict[str, Any] = {"headers": self.headers(chosen)}
        if body is not None:
            kwargs["json"] = body
        async with self.client.request(method, path, **kwargs) as resp:
            data = await resp.json() if resp.content_type == "application/json" else await resp.text()
            return resp.status, data

    async def ok(self, method: str, path: str, body: Any = None, key: str | None = "org", status: int = 200) -> Any:
        got, data = await self.call(method, path, body, key)
        assert got == status, (got, data)
        return data

    async def room(self, **overrides: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "appointment",
            "practitioner": {"identity": "dr-a", "name": "Dr A"},
            "client": {"identity": "client-1", "name": "Client One"},
            "starts_at": self.clock.now + 1800,
            "ends_at": self.clock.now + 3600,
        }
        body.update(overrides)
        body = {k: v for k, v in body.items() if v is not None}
        return await self.ok("POST", "/v1/rooms", body, status=201)  # type: ignore[no-any-return]


@pytest.fixture
async def api(make_store: Any, store_kind: str) -> AsyncIterator[Api]:
    clock = FakeClock()
    store = make_store()
    webhooks = WebhookDispatcher(store, WebhookConfig(backoff_base_s=0.01, backoff_max_s=0.05, timeout_s=2))
    plane = ControlPlane.build(store, secret=SECRET, public_url="http://127.0.0.1:8080", clock=clock, webhooks=webhooks)
    app = web.Application()
    app.cleanup_ctx.append(plane.lifecycle)
    app[IMAGES_KEY] = SharedBackgrounds(store, BackgroundImageStore(), EffectsConfig())  # /v1/backgrounds live for the fuzzer too
    setup_api(app, plane.consultations, [BACKGROUNDS_API])
    org_key = await create_key(store, "org1", None)
    dept_key = await create_key(store, "org1", "cardio")
    other_dept_key = await create_key(store, "org1", "derma")
    other_org_key = await create_key(store, "org2", None)
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    try:
        yield Api(client, plane, clock, org_key, dept_key, other_dept_key, other_org_key, store_kind)
    finally:
        await client.close()


# ---------------------------------------------------------------- live sessions (lobby side)


class RecordingHandle:
    """Stands in for the lead's signalling session at the Lobby boundary: records pushes."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.admitted = False
        self.closed: tuple[str, str | None] | None = None

    async def send(self, msg: Any) -> None:
        self.messages.append(msg)

    async def admit(self, started_at: float | None = None) -> None:
        self.admitted = True

    async def close(self, reason: str, message: str | None = None) -> None:
        self.closed = (reason, message)

    def of_type(self, type_name: str) -> list[Any]:
        return [m for m in self.messages if m.type == type_name]

    def last(self, type_name: str) -> Any:
        found = self.of_type(type_name)
        assert found, f"no {type_name!r} message among {[m.type for m in self.messages]}"
        return found[-1]


async def eventually(predicate: Any, timeout: float = 5.0) -> None:
    import asyncio

    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)


_pid_counter = iter(range(1, 10**9))


async def join(api: Api, room_id: str, identity: str, role: str = "client", name: str | None = None) -> tuple[Any, RecordingHandle, str]:
    """Issue a token through the API, verify it as the session does, and join the lobby."""
    from control import tokens

    issued = await api.ok("POST", f"/v1/rooms/{room_id}/tokens", {"identity": identity, "role": role, "name": name or identity}, status=201)
    claims = tokens.verify(SECRET, issued["token"], now=api.clock.now)
    return await join_claims(api, claims)


async def join_claims(api: Api, claims: Any) -> tuple[Any, RecordingHandle, str]:
    from signalling.lobby import JoinContext

    handle = RecordingHandle()
    pid = f"p{next(_pid_counter)}"
    ctx = JoinContext(claims.room, claims.identity, claims.name, claims.role, claims.extra)
    decision = await api.plane.lobby.on_join(ctx, pid, handle, api.clock.now)
    return decision, handle, pid
