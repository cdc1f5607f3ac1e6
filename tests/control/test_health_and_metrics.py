"""/healthz reports the store, /readyz readiness, /metrics the process and the build.

A real server (in-process) on a real redis-server of the test's own, which the test stops.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.control.conftest import free_port
from tests.support.server import RunningServer, parse_metrics, running_server


async def get(server: RunningServer, path: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.get(server.http_url + path) as resp:
        return resp.status, await resp.json()


def start_redis(port: int) -> subprocess.Popen[bytes]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    return subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


@pytest.mark.redis
async def test_healthz_and_readyz_follow_the_store(tmp_path: Path) -> None:
    port = free_port()
    redis = await asyncio.to_thread(start_redis, port)
    try:
        url = f"redis://127.0.0.1:{port}/0"
        async with running_server(tmp_path, store__backend="redis", store__redis_url=url, store__redis_prefix=f"h{uuid.uuid4().hex[:6]}:") as server:
            for _ in range(50):  # redis-server takes a moment to listen
                status, body = await get(server, "/healthz")
                if status == 200:
                    break
                await asyncio.sleep(0.1)
            assert (status, body["status"]) == (200, "ok"), body
            assert await get(server, "/readyz") == (200, {"status": "ready"})

            redis.terminate()
            await asyncio.to_thread(redis.wait, 10)
            status, body = await get(server, "/healthz")
            assert status == 503 and body["status"] == "store_unavailable" and "unreachable" in body["reason"], body
            status, body = await get(server, "/readyz")
            assert status == 503 and body["status"] == "not_ready" and "unreachable" in body["reason"], body
            figures = await server.metrics()
            assert figures["consult_sfu_store_errors_total"] >= 2
    finally:
        if redis.poll() is None:
            redis.kill()
        await asyncio.to_thread(redis.wait, 10)


async def test_metrics_have_process_figures_and_build_info(tmp_path: Path) -> None:
    async with running_server(tmp_path) as server:
        async with aiohttp.ClientSession() as http, http.get(server.http_url + "/metrics") as resp:
            text = await resp.text()
        figures = parse_metrics(text)
        assert figures["process_resident_memory_bytes"] > 10e6 and figures["process_open_fds"] > 0
        assert figures["process_cpu_seconds_total"] > 0 and figures["process_max_fds"] > 0
        assert "# TYPE process_cpu_seconds_total counter" in text
        build = next(name for name in figures if name.startswith("consult_sfu_build_info{"))
        assert 'python="3.11' in build and 'aiortc="1.16.0"' in build and figures[build] == 1
        for name in ("webhook_deliveries_total", "webhook_dead_letters_total", "rate_limited_api_requests_total", "store_errors_total"):
            assert f"consult_sfu_{name}" in figures
        # the shared UDP port's figures only with ice.udp_port (tests/sfu/test_udp_mux.py)
        assert not [name for name in figures if name.startswith("consult_sfu_udp_port_")]
        assert await get(server, "/readyz") == (200, {"status": "ready"})
