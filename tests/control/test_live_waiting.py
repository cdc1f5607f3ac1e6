"""The waiting room live, through the real application: WebSocket sessions, aiortc media.

A client waits, the practitioner sees them in the queue and admits them over signalling,
video flows both ways; after a forced start a late client lands in the consultation at
once; a guest waits until the client is in; ending disconnects everyone. Both stores.
"""

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
from tests.support.media import PatternVideoTrack
from tests.support.peer import TestPeer
from tests.support.server import RunningServer, running_server


@contextlib.asynccontextmanager
async def live(tmp_path: Path, store_kind: str, request: pytest.FixtureRequest) -> AsyncIterator[tuple[RunningServer, Any]]:
    overrides: dict[str, Any] = {}
    if store_kind == "redis":
        overrides = {"store__backend": "redis", "store__redis_url": request.getfixturevalue("redis_url"), "store__redis_prefix": f"live{time.monotonic_ns()}:"}
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


async def call(http: Any, method: str, path: str, body: Any = None, status: int = 200) -> Any:
    async with http.request(method, path, json=body) as resp:
        data = await resp.json() if resp.status != 204 else None
        assert resp.status == status, data
        return data


async def token(http: Any, room: str, identity: str, role: str) -> str:
    issued = await call(http, "POST", f"/v1/rooms/{room}/tokens", {"identity": identity, "name": identity.title(), "role": role}, status=201)
    return str(issued["token"])


async def join_waiting(peer: TestPeer) -> dict[str, Any]:
    """Join expecting the waiting room (``waiting`` does not echo the join's id yet)."""
    await peer.connect(join=False)
    await peer.send({"type": "join", "token": peer.token})
    return await peer.next_message("waiting")


@contextlib.asynccontextmanager
async def peers(*made: TestPeer) -> AsyncIterator[None]:
    try:
        yield
    finally:
        for p in made:
            await p.close()


@pytest.mark.long
async def test_client_waits_is_admitted_and_video_flows(tmp_path: Path, store_kind: str, request: pytest.FixtureRequest) -> None:
    async with live(tmp_path, store_kind, request) as (server, http):
        now = time.time()
        room = await call(http, "POST", "/v1/rooms", {"kind": "appointment", "practitioner": {"identity": "dr"}, "client": {"identity": "ann"}, "starts_at": now + 600, "ends_at": now + 2400, "settings": {"post_consultation_message": "See you"}}, status=201)
        client = TestPeer(server.ws_url, await token(http, room["id"], "ann", "client"), "ann")
        doctor = TestPeer(server.ws_url, await token(http, room["id"], "dr", "practitioner"), "dr")
        async with peers(client, doctor):
            waiting = await join_waiting(client)
            assert waiting["type"] == "waiting" and waiting["status"] == "on_time"
            assert waiting["practitioner_status"] == "offline"
            joined = await doctor.connect()
            assert joined["type"] == "joined"
            queue = await doctor.next_message("queue")
            assert [e["name"] for e in queue["entries"]] == ["Ann"]
            entry = queue["entries"][0]
            api_queue = await call(http, "GET", f"/v1/rooms/{room['id']}/waiting")
            assert [e["participant_id"] for e in api_queue["waiting"]] == [entry["participant_id"]]
            await client.wait_for(lambda m: m["type"] == "waiting" and m["practitioner_status"] == "online")
            await doctor.send({"type": "admit", "participant_id": entry["participant_id"]})
            await client.next_message("admitted")
            client_joined = await client.next_message("joined")
            assert client_joined["participant_id"] == entry["participant_id"]
            assert client_joined["settings"]["post_consultation_message"] == "See you"
            await doctor.publish([(PatternVideoTrack(320, 240, 15), "camera")])
            await client.publish([(PatternVideoTrack(320, 240, 15), "camera")])
            await client.wait_frames(joined["participant_id"], "video", 5, timeout=30)
            await doctor.wait_frames(entry["participant_id"], "video", 5, timeout=30)
            ended = await call(http, "POST", f"/v1/rooms/{room['id']}/end")
            assert ended["state"] == "ended" and ended["duration_s"] is not None
            for p in (client, doctor):
                msg = await p.next_message("consultation_ended")
                assert msg["post_consultation_message"] == "See you"
                await p.next_message("bye")


@pytest.mark.long
async def test_forced_start_late_client_and_waiting_guest(tmp_path: Path, store_kind: str, request: pytest.FixtureRequest) -> None:
    async with live(tmp_path, store_kind, request) as (server, http):
        now = time.time()
        room = await call(http, "POST", "/v1/rooms", {"kind": "appointment", "practitioner": {"identity": "dr"}, "client": {"identity": "ann"}, "guests": [{"identity": "kim"}], "starts_at": now - 300, "ends_at": now + 1500}, status=201)
        doctor = TestPeer(server.ws_url, await token(http, room["id"], "dr", "practitioner"), "dr")
        guest = TestPeer(server.ws_url, await token(http, room["id"], "kim", "guest"), "kim")
        async with peers(doctor, guest):
            await doctor.connect()
            guest_waiting = await join_waiting(guest)
            assert guest_waiting["type"] == "waiting" and guest_waiting["status"] == "waiting_for_client"
            await doctor.send({"type": "force_start"})
            await doctor.wait_for(lambda m: m["type"] == "queue" and m["state"] == "started")
            late = TestPeer(server.ws_url, await token(http, room["id"], "ann", "client"), "ann")
            async with peers(late):
                assert (await late.connect())["type"] == "joined"  # straight into the running consultation
                await guest.next_message("admitted")
                assert (await guest.next_message("joined"))["room"] == room["id"]
            # a client cannot use practitioner controls
            denied = await guest.request({"type": "end_consultation"}, expect=("error",))
            assert denied["code"] == "forbidden"


@pytest.mark.long
async def test_refusals_reach_the_browser_with_their_reason(tmp_path: Path, store_kind: str, request: pytest.FixtureRequest) -> None:
    async with live(tmp_path, store_kind, request) as (server, http):
        now = time.time()
        room = await call(http, "POST", "/v1/rooms", {"kind": "appointment", "practitioner": {"identity": "dr"}, "client": {"identity": "ann"}, "starts_at": now + 7200, "ends_at": now + 9000}, status=201)
        early = TestPeer(server.ws_url, await token(http, room["id"], "ann", "client"), "ann")
        async with peers(early):
            await early.connect(join=False)
            await early.send({"type": "join", "token": early.token})
            refused = await early.next_message("access_refused")
            assert refused["reason"] == "too_early" and refused["opens_at"] == room["access_window"]["opens_at"]


@pytest.mark.long
async def test_second_tab_of_a_waiting_client_replaces_the_first_and_keeps_its_place(
    tmp_path: Path, store_kind: str, request: pytest.FixtureRequest
) -> None:
    """Issue 13: the newer connection wins, the older gets ``bye`` ``replaced``; a refusal is
    one ``access_refused`` and close code 4403."""
    async with live(tmp_path, store_kind, request) as (server, http):
        now = time.time()
        room = await call(http, "POST", "/v1/rooms", {"kind": "appointment", "practitioner": {"identity": "dr"}, "client": {"identity": "ann"}, "starts_at": now + 600, "ends_at": now + 2400}, status=201)
        ann_token = await token(http, room["id"], "ann", "client")
        first = TestPeer(server.ws_url, ann_token, "ann-tab-1")
        other = TestPeer(server.ws_url, await token(http, room["id"], "bob", "client"), "bob")
        second = TestPeer(server.ws_url, ann_token, "ann-tab-2")
        async with peers(first, other, second):
            await join_waiting(first)
            since = (await call(http, "GET", f"/v1/rooms/{room['id']}/waiting"))["waiting"][0]["waiting_since"]
            await join_waiting(other)
            await join_waiting(second)
            bye = await first.next_message("bye")
            assert bye["reason"] == "replaced"
            queue = (await call(http, "GET", f"/v1/rooms/{room['id']}/waiting"))["waiting"]
            assert [e["identity"] for e in queue] == ["ann", "bob"], queue  # ann kept her place
            assert queue[0]["waiting_since"] == since

        late_room = await call(http, "POST", "/v1/rooms", {"kind": "appointment", "practitioner": {"identity": "dr"}, "client": {"identity": "cy"}, "starts_at": now + 7200, "ends_at": now + 9000}, status=201)
        early = TestPeer(server.ws_url, await token(http, late_room["id"], "cy", "client"), "cy")
        async with peers(early):
            await early.connect(join=False)
            await early.send({"type": "join", "id": "j", "token": early.token})
            refused = await early.next_message("access_refused")
            assert refused["reason"] == "too_early" and refused["id"] == "j"
            assert early._ws is not None
            for _ in range(100):
                if early._ws.closed:
                    break
                await asyncio.sleep(0.05)
            assert early._ws.close_code == 4403
            assert [m["type"] for m in early.messages] == ["access_refused"]
