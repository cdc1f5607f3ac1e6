"""Run the real application in-process on a loopback port for integration tests."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from control import config as config_module
from control.app import create_app
from control.metrics import MEDIA
from control.tokens import mint
from sfu.media_server import MediaServer

SECRET = "test-secret-not-for-production-0123456789"


@dataclass
class RunningServer:
    app: web.Application
    server: TestServer
    config: config_module.Config

    @property
    def ws_url(self) -> str:
        return f"ws://{self.server.host}:{self.server.port}/ws"

    @property
    def http_url(self) -> str:
        return f"http://{self.server.host}:{self.server.port}"

    @property
    def media(self) -> MediaServer:
        return self.app[MEDIA]

    def token(self, room: str, identity: str, role: str = "client", **kwargs: Any) -> str:
        return mint(SECRET, room=room, identity=identity, role=role, **kwargs)

    async def metrics(self) -> dict[str, float]:
        """GET /metrics, parsed: metric name -> value."""
        async with aiohttp.ClientSession() as http, http.get(self.http_url + "/metrics") as resp:
            return parse_metrics(await resp.text())


def parse_metrics(text: str) -> dict[str, float]:
    """Prometheus text format -> metric name (with labels) -> value."""
    return {line.split()[0]: float(line.split()[1]) for line in text.splitlines() if line and not line.startswith("#")}


@contextlib.asynccontextmanager
async def running_server(tmp_path: Any, host: str = "127.0.0.1", **overrides: Any) -> AsyncIterator[RunningServer]:
    """``host``: where HTTP and WebSocket listen (a namespace's veth address for a peer there)."""
    config = config_module.load(
        None,
        env={},
        server__secret=SECRET,
        server__data_dir=str(tmp_path),
        # caption workers start when first needed, so servers of tests without captions stop fast;
        # no reconnect grace unless a test asks (tests/signalling/test_resume.py): the other tests
        # count on a closed socket being a participant who left
        **{"ice__host_addresses": ["127.0.0.1"], "captions__start_workers": "first_use", "session__reconnect_grace_s": 0, **overrides},
    )
    app = create_app(config)
    server = TestServer(app, host=host)
    await server.start_server()
    try:
        yield RunningServer(app, server, config)
    finally:
        await server.close()
