"""Two real server processes sharing one Redis: a waiting client connected to one, the
practitioner to the other; they chat both ways live and through the history, and the end
heard by both deletes the transcript from Redis exactly once."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import pytest
import redis.asyncio as aioredis

from control.apikeys import create_key
from control.store.redis import RedisStore
from tests.chat.live import ChatPeer, appointment, call, peers, token
from tests.chat.processes import serving

pytestmark = pytest.mark.redis


async def test_waiting_room_chat_across_two_processes(tmp_path: Path, redis_url: str) -> None:
    prefix = f"twochat{time.monotonic_ns()}:"
    shared = {"store": "redis", "redis_url": redis_url, "redis_prefix": prefix}
    keys = RedisStore(redis_url, prefix=prefix)
    key = await create_key(keys, "clinic", None)
    await keys.close()
    headers = {"Authorization": f"Bearer {key}"}
    async with serving(tmp_path / "a", **shared) as a, serving(tmp_path / "b", **shared) as b:
        async with aiohttp.ClientSession(base_url=a.http_url, headers=headers) as api_a, aiohttp.ClientSession(base_url=b.http_url, headers=headers) as api_b:
            room = await appointment(api_a)
            ann = ChatPeer(a.ws_url, await token(api_a, room["id"], "ann", "client", name="Ann"), "ann")  # on process A
            dr = ChatPeer(b.ws_url, await token(api_b, room["id"], "dr", "practitioner", name="Dr B"), "dr")  # on process B
            async with peers(ann, dr):
                await ann.join_waiting()
                first = await ann.say("written on process A")
                await dr.connect()
                assert [m["text"] for m in (await dr.history())["messages"]] == ["written on process A"]
                queue = await dr.until(lambda m: m["type"] == "queue" and m["entries"])
                pid = queue["entries"][0]["participant_id"]
                answer = await dr.say("answered from process B", to=pid)
                got = await ann.until(lambda m: m.get("message_id") == answer["message_id"])
                assert got["sender"]["name"] == "Dr B" and got["thread"] == "waiting"
                second = await ann.say("and back to B")
                await dr.until(lambda m: m.get("message_id") == second["message_id"])
                assert first["message_id"] != second["message_id"]
                redis = aioredis.Redis.from_url(redis_url)
                try:
                    chat_key = f"{prefix}consultation:chat:{room['id']}"
                    assert await redis.llen(chat_key) == 3
                    assert 0 < await redis.pttl(chat_key) <= (room["access_window"]["closes_at"] + 3600 - time.time() + 5) * 1000
                    await call(api_b, "POST", f"/v1/rooms/{room['id']}/end")
                    await ann.next_message("consultation_ended")
                    for _ in range(100):
                        if not await redis.exists(chat_key):
                            break
                        await asyncio.sleep(0.05)
                    assert not await redis.exists(chat_key)
                    assert [k async for k in redis.scan_iter(match=f"{prefix}consultation:*")] == []
                finally:
                    await redis.aclose()
    for server in (a, b):
        assert "Traceback" not in server.log_text(), server.log_text()[-3000:]
