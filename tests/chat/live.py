"""The real server for the chat and files tests: in-process (memory or Redis store) with an
API key, and WebSocket participants that speak the protocol (tests/support/peer.py)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from control.apikeys import create_key
from control.store.memory import MemoryStore
from tests.support.peer import TestPeer
from tests.support.server import RunningServer, running_server


@contextlib.asynccontextmanager
async def live(
    tmp_path: Path, store_kind: str, request: pytest.FixtureRequest | None, **overrides: Any
) -> AsyncIterator[tuple[RunningServer, aiohttp.ClientSession]]:
    """A server with the given store and an organisation key ``clinic`` on ``http``
    (``request`` gives the ``redis_url`` fixture; only the Redis store needs it)."""
    if store_kind == "redis":
        assert request is not None, "the Redis store needs the test's request (redis_url fixture)"
        overrides = {
            "store__backend": "redis",
            "store__redis_url": request.getfixturevalue("redis_url"),
            "store__redis_prefix": f"chat{time.monotonic_ns()}:",
            **overrides,
        }
    async with running_server(tmp_path, **overrides) as server:
        if store_kind == "redis":
            from control.store.redis import RedisStore

            keys: Any = RedisStore(overrides["store__redis_url"], prefix=overrides["store__redis_prefix"])
        else:
            keys = MemoryStore(data_dir=server.config.store.data_dir)  # the server reads the same file
        key = await create_key(keys, "clinic", None)
        await keys.close()
        async with aiohttp.ClientSession(base_url=server.http_url, headers={"Authorization": f"Bearer {key}"}) as http:
            yield server, http


async def call(http: aiohttp.ClientSession, method: str, path: str, body: Any = None, status: int = 200) -> Any:
    async with http.request(method, path, json=body) as resp:
        data = await resp.json() if resp.status != 204 else None
        assert resp.status == status, data
        return data


async def appointment(http: aiohttp.ClientSession, **overrides: Any) -> dict[str, Any]:
    now = time.time()
    body: dict[str, Any] = {
        "kind": "appointment",
        "practitioner": {"identity": "dr"},
        "client": {"identity": "ann"},
        "starts_at": now + 600,
        "ends_at": now + 2400,
        **overrides,
    }
    return dict(await call(http, "POST", "/v1/rooms", body, status=201))


async def token(http: aiohttp.ClientSession, room: str, identity: str, role: str, name: str | None = None) -> str:
    body = {"identity": identity, "name": name or identity.title(), "role": role}
    issued = await call(http, "POST", f"/v1/rooms/{room}/tokens", body, status=201)
    return str(issued["token"])


class ChatPeer(TestPeer):
    """A participant that chats (no media needed)."""

    async def join_waiting(self) -> dict[str, Any]:
        await self.connect(join=False)
        reply = await self.request({"type": "join", "token": self.token}, expect=("waiting", "error", "access_refused"))
        assert reply["type"] == "waiting", reply
        return reply

    async def say(self, text: str, **fields: Any) -> dict[str, Any]:
        """Send a text; the reply (chat_message) or the error."""
        return await self.request({"type": "chat_send", "text": text, **fields}, expect=("chat_message", "error"))

    async def link(self, url: str, **fields: Any) -> dict[str, Any]:
        return await self.request({"type": "chat_send", "kind": "link", "url": url, **fields}, expect=("chat_message", "error"))

    async def until(self, predicate: Any, timeout: float = 10.0) -> dict[str, Any]:
        """The first message (already received or to come) that matches ``predicate``."""
        return await asyncio.wait_for(self.wait_for(predicate), timeout)

    def chat(self) -> list[dict[str, Any]]:
        """The chat messages and file notices received live (not the replies to our own sends)."""
        return [m for m in self.messages if m["type"] in ("chat_message", "file_shared") and "id" not in m]

    async def history(self, after: int = 0) -> dict[str, Any]:
        return await self.next_message("chat_history", after=after)

    async def alive(self) -> None:
        pong = await self.request({"type": "ping"}, expect=("pong",))
        assert pong["type"] == "pong"


@contextlib.asynccontextmanager
async def peers(*made: TestPeer) -> AsyncIterator[None]:
    try:
        yield
    finally:
        for p in made:
            await p.close()
