"""Structured logs: JSON lines, an access log, and one request id on the access line and on
every line of the WebSocket session it served. A real ``consult-sfu serve`` process."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp

from tests.chat.processes import SECRET, serving
from tests.control.conftest import free_port  # noqa: F401  (the processes' helper uses it)
from tests.support.peer import TestPeer


def json_lines(text: str) -> list[dict[str, Any]]:
    out = []
    for line in text.splitlines():
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


async def test_json_logs_with_request_ids(tmp_path: Path) -> None:
    from control.tokens import mint

    async with serving(tmp_path / "data", server_log_format="json") as server:
        async with aiohttp.ClientSession() as http:
            async with http.get(server.http_url + "/v1/rooms", headers={"X-Request-Id": "req-from-proxy.1"}) as resp:
                assert resp.status == 401 and resp.headers["X-Request-Id"] == "req-from-proxy.1"
            async with http.get(server.http_url + "/healthz", headers={"X-Request-Id": "bad id with spaces"}) as resp:
                generated = resp.headers["X-Request-Id"]
                assert generated != "bad id with spaces" and len(generated) == 16
        peer = TestPeer(server.ws_url, mint(SECRET, room="r1", identity="ann", role="client"), "ann")
        try:
            joined = await peer.connect()
            assert joined["type"] == "joined"
        finally:
            await peer.close()
        lines: list[dict[str, Any]] = []
        for _ in range(50):  # the session's last line and its access line come after the close
            lines = json_lines(server.log_text())
            if any(line.get("path") == "/ws" for line in lines):
                break
            await asyncio.sleep(0.1)
    text = server.log_text()
    assert all(line.startswith("{") for line in text.splitlines() if line.strip()), text[-2000:]  # every line is JSON
    access = [line for line in lines if line["logger"] == "consult_sfu.access"]
    api = next(line for line in access if line["path"] == "/v1/rooms")
    assert (api["status"], api["request_id"], api["method"]) == (401, "req-from-proxy.1", "GET")
    assert generated in {line["request_id"] for line in access if line["path"] == "/healthz"}
    ws = next(line for line in access if line["path"] == "/ws")
    session = [line for line in lines if line["logger"] == "control.ws"]  # the socket's address, the join, the close
    assert [line["message"].split(" ")[1] for line in session if line["message"].startswith("session ")] == ["joined", joined["participant_id"]], session
    assert len(session) >= 3 and {line.get("request_id") for line in session} == {ws["request_id"]}  # every line of the session carries its id


async def test_text_logs_carry_the_request_id(tmp_path: Path) -> None:
    async with serving(tmp_path / "data") as server:
        async with aiohttp.ClientSession() as http, http.get(server.http_url + "/v1/rooms", headers={"X-Request-Id": "abc-123"}) as resp:
            assert resp.status == 401
        for _ in range(50):
            if "[request abc-123]" in server.log_text():
                break
            await asyncio.sleep(0.1)
    line = next(line for line in server.log_text().splitlines() if "consult_sfu.access: GET /v1/rooms" in line)
    assert "GET /v1/rooms 401" in line and line.endswith("[request abc-123]"), line
