"""Two nodes sharing one Redis: one consultation, whichever node each participant enters by.

The issue's failing case first: the practitioner enters through node B, the client through
node A, the client waits and is admitted; both receive each other's audio and video (the
room lives on one owner; the other node forwards the socket). Then 20 first joins of one
room at once, spread over both nodes: one owner, everyone in one room.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest

from control.cluster.records import placement_key
from control.store.redis import RedisStore
from tests.cluster.conftest import api_client, appointment, room_token
from tests.cluster.nodes import Node, new_prefix, start_nodes_sync, token
from tests.support.media import PatternVideoTrack, ToneAudioTrack
from tests.support.peer import TestPeer

pytestmark = pytest.mark.redis


@pytest.fixture(scope="module")
def two_nodes(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[tuple[Node, Node, str]]:
    prefix = new_prefix()
    # No reconnect grace: a peer a test closed leaves its node at once (as before the grace),
    # so a later test's per-worker participant counts see only its own room.
    nodes = start_nodes_sync(
        tmp_path_factory.mktemp("two"), ["a", "b"], redis_url=redis_url, prefix=prefix,
        env={"CONSULT_SFU_SESSION_RECONNECT_GRACE_S": "0"},
    )
    try:
        yield nodes[0], nodes[1], prefix
    finally:
        for node in nodes:
            node.stop()


@contextlib.asynccontextmanager
async def closing(*peers: TestPeer) -> AsyncIterator[None]:
    try:
        yield
    finally:
        await asyncio.gather(*(p.close() for p in peers), return_exceptions=True)


async def test_practitioner_through_b_client_through_a(two_nodes: tuple[Node, Node, str], redis_url: str) -> None:
    a, b, prefix = two_nodes
    async with api_client(a.http_url, redis_url, prefix) as http:
        room = await appointment(http)
        doctor = TestPeer(b.ws_url, await room_token(http, room, "dr", "practitioner"), "dr")
        client = TestPeer(a.ws_url, await room_token(http, room, "ann", "client"), "ann")
    async with closing(doctor, client):
        joined = await doctor.connect()
        assert joined["type"] == "joined", joined
        await client.connect(join=False)
        await client.send({"type": "join", "token": client.token})
        await client.next_message("waiting")
        queue = await doctor.wait_for(lambda m: m["type"] == "queue" and m["entries"])
        await doctor.send({"type": "admit", "participant_id": queue["entries"][0]["participant_id"]})
        client_joined = await client.next_message("joined")
        assert [p["identity"] for p in client_joined["participants"]] == ["dr"]
        await doctor.wait_for(lambda m: m["type"] == "participant_joined" and m["participant"]["identity"] == "ann")
        await doctor.publish([(PatternVideoTrack(320, 240, 15), "camera"), (ToneAudioTrack(), "microphone")])
        await client.publish([(PatternVideoTrack(320, 240, 15), "camera"), (ToneAudioTrack(), "microphone")])
        for kind in ("audio", "video"):
            await client.wait_frames(joined["participant_id"], kind, 5, timeout=30)
            await doctor.wait_frames(client_joined["participant_id"], kind, 5, timeout=30)


async def test_twenty_first_joins_at_once_make_one_room(two_nodes: tuple[Node, Node, str], redis_url: str) -> None:
    a, b, prefix = two_nodes
    peers = [TestPeer((a, b)[i % 2].ws_url, token("crowd", f"p{i}"), f"p{i}") for i in range(20)]
    async with closing(*peers):
        replies = await asyncio.gather(*(p.connect() for p in peers))
        assert all(r["type"] == "joined" for r in replies), [r for r in replies if r["type"] != "joined"]
        ids = {r["participant_id"] for r in replies}
        # everyone sees the 19 others: joined.participants plus participant_joined since
        for peer, reply in zip(peers, replies, strict=True):
            seen = {p["participant_id"] for p in reply["participants"]}
            await asyncio.sleep(0)
            deadline = asyncio.get_running_loop().time() + 10
            while len(seen) < 19 and asyncio.get_running_loop().time() < deadline:
                seen |= {m["participant"]["participant_id"] for m in peer.messages if m["type"] == "participant_joined"}
                await asyncio.sleep(0.05)
            assert seen == ids - {reply["participant_id"]}
        store = RedisStore(redis_url, prefix=prefix)
        try:
            owner = (await store.get_raw(placement_key("crowd")) or b"").decode()
        finally:
            await store.close()
        workers = (await a.cluster())["workers"]
        assert owner in {w["worker_id"] for w in workers}
        assert sum(w["rooms"] for w in workers) >= 1 and [w["participants"] for w in workers if w["worker_id"] != owner] == [0]


async def test_internal_and_admin_routes_refuse_unsigned_requests(two_nodes: tuple[Node, Node, str]) -> None:
    a, _, _ = two_nodes
    workers = (await a.cluster())["workers"]
    internal = next(w["internal_url"] for w in workers if w["node"] == "a")
    async with aiohttp.ClientSession() as http:
        headers = {"X-Consult-Entrance": "a/0/x", "X-Consult-Client": "198.51.100.7", "X-Consult-Time": "0", "X-Consult-Signature": "00"}
        async with http.get(internal + "/internal/ws", headers=headers) as resp:
            assert resp.status == 403
        async with http.get(internal + "/internal/metrics") as resp:
            assert resp.status == 403
        async with http.get(a.http_url + "/cluster/nodes") as resp:
            assert resp.status == 403
        async with http.post(a.http_url + "/cluster/drain") as resp:
            assert resp.status == 403
    assert (await a.healthz())[1]["status"] == "ok"  # and nothing was drained
