"""Rate limits answer 429 with Retry-After: REST per API key, WebSocket connections per client
address; joins per token are refused on the socket. A real server (in-process) with small
limits; the limiter itself with time passed in.
"""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest

from control.apikeys import create_key
from control.app import PLANE
from control.ratelimit import KeyedLimiter, Limits, LimitsConfig
from tests.support.server import running_server


def test_a_bucket_allows_its_burst_then_its_rate() -> None:
    limiter = KeyedLimiter(per_minute=60, burst=3)
    assert [limiter.take("k", 100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("k", 100.0) == pytest.approx(1.0)  # one a second
    assert limiter.take("other", 100.0) == 0.0  # per key
    assert limiter.take("k", 101.0) == 0.0 and limiter.rejected == 1
    assert KeyedLimiter(per_minute=0, burst=1).take("k", 0.0) == 0.0  # 0: no limit


def test_memory_is_bounded_and_loopback_is_exempt() -> None:
    limiter = KeyedLimiter(per_minute=60, burst=1, max_keys=100)
    for i in range(1000):
        limiter.take(f"addr-{i}", 0.0)
    assert len(limiter._buckets) == 100
    limits = Limits(LimitsConfig(joins_per_address_burst=1))
    assert [limits.join_from("127.0.0.1", 0.0) for _ in range(5)] == [0.0] * 5
    assert limits.join_from("203.0.113.9", 0.0) == 0.0 and limits.join_from("203.0.113.9", 0.0) > 0


async def test_rest_requests_per_key_get_429_with_retry_after(tmp_path: Path) -> None:
    async with running_server(tmp_path, limits__api_burst=3, limits__api_requests_per_minute=6) as server:
        key = await create_key(server.app[PLANE].store, "clinic", None)
        other = await create_key(server.app[PLANE].store, "clinic", None)
        async with aiohttp.ClientSession() as http:
            statuses = []
            for _ in range(4):
                async with http.get(server.http_url + "/v1/rooms", headers={"Authorization": f"Bearer {key}"}) as resp:
                    statuses.append(resp.status)
                    last = (dict(resp.headers), await resp.json())
            assert statuses == [200, 200, 200, 429]
            headers, body = last
            assert body["error"]["code"] == "rate_limited" and 1 <= int(headers["Retry-After"]) <= 10
            async with http.get(server.http_url + "/v1/rooms", headers={"Authorization": f"Bearer {other}"}) as resp:
                assert resp.status == 200  # per key
        assert (await server.metrics())["consult_sfu_rate_limited_api_requests_total"] == 1


async def test_joins_per_address_and_per_token(tmp_path: Path) -> None:
    async with running_server(
        tmp_path, limits__joins_per_address_burst=2, limits__joins_per_address_per_minute=1,
        limits__joins_per_token_burst=2, limits__joins_per_token_per_minute=1, limits__exempt_networks=[],
    ) as server:
        token = server.token("r1", "ann")
        async with aiohttp.ClientSession() as http:
            for _ in range(2):  # two joins with one link are fine; the third is refused on the socket
                async with http.ws_connect(server.ws_url) as ws:
                    await ws.send_str(json.dumps({"v": 1, "type": "join", "token": token, "id": "j"}))
                    assert (await ws.receive_json(timeout=10))["type"] == "joined"
            async with http.get(server.ws_url.replace("ws://", "http://"), headers={"Upgrade": "websocket", "Connection": "Upgrade",
                                "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}) as resp:
                assert resp.status == 429 and int(resp.headers["Retry-After"]) >= 1  # per address: the third connection
                assert (await resp.json())["error"]["code"] == "rate_limited"
        figures = await server.metrics()
        assert figures["consult_sfu_rate_limited_joins_address_total"] == 1
    async with running_server(tmp_path, limits__joins_per_token_burst=1, limits__joins_per_token_per_minute=1) as server:
        token = server.token("r1", "ann")
        async with aiohttp.ClientSession() as http:
            replies = []
            for _ in range(2):
                async with http.ws_connect(server.ws_url) as ws:
                    await ws.send_str(json.dumps({"v": 1, "type": "join", "token": token, "id": "j"}))
                    replies.append(await ws.receive_json(timeout=10))
            assert replies[0]["type"] == "joined"
            assert replies[1]["type"] == "error" and replies[1]["code"] == "rate_limited" and "retry in 60 s" in replies[1]["message"]
        assert (await server.metrics())["consult_sfu_rate_limited_joins_token_total"] == 1
