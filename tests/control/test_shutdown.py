"""Stopping the server with participants still connected: they are told at once, the stop is fast.

aiohttp's shutdown waits for running handlers (a WebSocket handler runs as long as its
socket is open) before the cleanup contexts close the sessions; without the ``on_shutdown``
of control/ws.py a client that kept its socket open held the stop for ~30 s and got no
``bye``. The in-process server of the tests stops through the same aiohttp runner as
``consult-sfu serve`` (control/cluster/serve.py).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from tests.support.peer import TestPeer
from tests.support.server import running_server


async def test_stopping_with_connected_clients_says_bye_and_is_fast(tmp_path: Path) -> None:
    async with running_server(tmp_path) as server:
        joined = TestPeer(server.ws_url, server.token("room", "alice"), "alice")
        assert (await joined.connect())["type"] == "joined"
        connected = TestPeer(server.ws_url, server.token("room", "bob"), "bob")
        await connected.connect(join=False)  # a socket that never joined
        byes = [joined.wait_for_new("bye"), connected.wait_for_new("bye")]
        try:
            started = time.monotonic()
            await server.server.close()
            took = time.monotonic() - started
            said = await asyncio.wait_for(asyncio.gather(*byes), 2.0)
        finally:
            await joined.close()
            await connected.close()
    assert [bye["reason"] for bye in said] == ["server_shutdown", "server_shutdown"]
    assert took < 3.0, f"the server took {took:.1f} s to stop"
