"""Reconnect with state kept (issue 12 item 4), through the real application: WebSocket
sessions, aiortc peers, the waiting room on both stores.

A participant whose socket drops (no ``leave``: a reload, a lost network) and who joins
again with the same identity within ``[session] reconnect_grace_s`` keeps their
participant id, their admitted status or queue place, and their choices (a subscription
cap, a background effect); the others see ``participant_reconnecting`` and never
``participant_left`` / ``participant_joined``. After the grace, they have left.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from control.apikeys import create_key
from tests.chat.live import call, token
from tests.chat.live import live as chat_live
from tests.control.test_live_waiting import join_waiting
from tests.support.media import PatternVideoTrack
from tests.support.peer import TestPeer
from tests.support.server import RunningServer, running_server

GRACE_S = 30.0
SHORT_GRACE_S = 1.5


def live(
    tmp_path: Path, grace_s: float, store_kind: str = "memory", request: pytest.FixtureRequest | None = None
) -> contextlib.AbstractAsyncContextManager[tuple[RunningServer, aiohttp.ClientSession]]:
    """The chat tests' live server (memory or Redis store, an organisation key) with a grace."""
    return chat_live(tmp_path, store_kind, request, session__reconnect_grace_s=grace_s)


@contextlib.asynccontextmanager
async def closing(*made: TestPeer) -> AsyncIterator[list[TestPeer]]:
    """Closes the given peers and any appended later."""
    peers = list(made)
    try:
        yield peers
    finally:
        for p in peers:
            await p.close()


async def queue_names(http: aiohttp.ClientSession, room: str) -> list[tuple[str, float]]:
    waiting = (await call(http, "GET", f"/v1/rooms/{room}/waiting"))["waiting"]
    return [(e["name"].lower(), e["waiting_since"]) for e in waiting]


def types_about(peer: TestPeer, participant_id: str) -> list[str]:
    """The types of the messages ``peer`` got about ``participant_id``'s presence."""
    out = []
    for msg in peer.messages:
        pid = msg.get("participant_id") or (msg.get("participant") or {}).get("participant_id")
        if pid == participant_id and msg["type"] in ("participant_joined", "participant_left", "participant_reconnecting"):
            out.append(f"{msg['type']}:{msg.get('reconnecting')}" if msg["type"] == "participant_reconnecting" else msg["type"])
    return out


async def until(predicate: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def test_a_dropped_participant_comes_back_with_its_id_and_choices_and_the_others_see_reconnecting(tmp_path: Path) -> None:
    async with live(tmp_path, GRACE_S) as (server, _http):
        dr = TestPeer(server.ws_url, server.token("r1", "dr", "practitioner"), "dr")
        ann_token = server.token("r1", "ann", "client")
        ann = TestPeer(server.ws_url, ann_token, "ann")
        async with closing(dr, ann) as peers:
            await dr.connect()
            await ann.connect()
            dr_id, ann_id = dr.joined["participant_id"], ann.joined["participant_id"]  # type: ignore[index]
            await dr.publish([(PatternVideoTrack(640, 480), "camera")])
            await ann.publish([(PatternVideoTrack(320, 240), "camera")])
            dr_video = next(p for p in ann.producers.values() if p["participant_id"] == dr_id and p["kind"] == "video")
            await ann.send({"type": "subscription", "producer_id": dr_video["producer_id"], "max_height": 180})
            on = await ann.request({"type": "set_effect", "kind": "blur", "strength": "light"}, expect=("effect_state", "error"))
            assert on["type"] == "effect_state", on
            received = await ann.wait_frames(dr_id, "video", 5, timeout=30)
            await until(lambda: bool(received.sizes) and received.sizes[-1][1] <= 180, timeout=30)

            # the socket drops (no 'leave'): the doctor sees "reconnecting", not "left"
            await ann.close()
            await dr.next_message("participant_reconnecting")
            assert server.media.rooms["r1"].participants.get(ann_id) is not None  # still in the room

            again = TestPeer(server.ws_url, ann_token, "ann-again")
            peers.append(again)
            joined = await again.connect()
            assert joined["type"] == "joined" and joined["participant_id"] == ann_id and joined["resumed"] is True
            await dr.wait_for(lambda m: m["type"] == "participant_reconnecting" and m["reconnecting"] is False)
            assert types_about(dr, ann_id) == ["participant_joined", "participant_reconnecting:True", "participant_reconnecting:False"]

            # choices kept: the 180-line cap on the doctor's video, the blur on the camera
            back = await again.wait_frames(dr_id, "video", 5, timeout=30)
            await until(lambda: bool(back.sizes) and back.sizes[-1][1] <= 180 and back.frames >= 10, timeout=30)
            effect = again.wait_for(lambda m: m["type"] == "effect_state" and m["participant_id"] == ann_id)
            (camera,) = await again.publish([(PatternVideoTrack(320, 240), "camera")])
            state = await asyncio.wait_for(effect, 15)
            assert (state["kind"], state.get("strength")) == ("blur", "light")
            # media from the new connection: frames of the new producer (dr's count for ann's
            # first camera would do too, and did when that one had sent 3 before the drop)
            await until(lambda: (rec := dr.received.get(camera["producer_id"])) is not None and rec.frames >= 3, timeout=30)
            assert len(server.media.rooms["r1"].participants) == 2


async def test_after_the_grace_the_participant_has_left(tmp_path: Path) -> None:
    async with live(tmp_path, SHORT_GRACE_S) as (server, _http):
        dr = TestPeer(server.ws_url, server.token("r2", "dr", "practitioner"), "dr")
        ann = TestPeer(server.ws_url, server.token("r2", "ann", "client"), "ann")
        async with closing(dr, ann):
            await dr.connect()
            await ann.connect()
            ann_id = ann.joined["participant_id"]  # type: ignore[index]
            dropped = time.monotonic()
            await ann.close()
            left = await dr.next_message("participant_left", timeout=15)
            waited = time.monotonic() - dropped
            assert left["participant_id"] == ann_id and left["reason"] == "disconnected"
            assert SHORT_GRACE_S - 0.2 <= waited <= SHORT_GRACE_S + 5, waited
            assert types_about(dr, ann_id) == ["participant_joined", "participant_reconnecting:True", "participant_left"]
            assert ann_id not in server.media.rooms["r2"].participants
            metrics = await server.metrics()
            assert metrics["consult_sfu_reconnects_expired_total"] == 1


async def test_leave_is_a_leave_at_once(tmp_path: Path) -> None:
    async with live(tmp_path, GRACE_S) as (server, _http):
        dr = TestPeer(server.ws_url, server.token("r3", "dr", "practitioner"), "dr")
        ann = TestPeer(server.ws_url, server.token("r3", "ann", "client"), "ann")
        async with closing(dr, ann):
            await dr.connect()
            await ann.connect()
            ann_id = ann.joined["participant_id"]  # type: ignore[index]
            await ann.send({"type": "leave"})
            left = await dr.next_message("participant_left", timeout=5)
            assert left["participant_id"] == ann_id and types_about(dr, ann_id) == ["participant_joined", "participant_left"]


async def test_a_second_connection_of_the_same_identity_takes_the_first_over(tmp_path: Path) -> None:
    # A network change: the new socket arrives before the server noticed the old one dropped.
    async with live(tmp_path, GRACE_S) as (server, _http):
        dr = TestPeer(server.ws_url, server.token("r4", "dr", "practitioner"), "dr")
        ann_token = server.token("r4", "ann", "client")
        first = TestPeer(server.ws_url, ann_token, "ann-1")
        second = TestPeer(server.ws_url, ann_token, "ann-2")
        async with closing(dr, first, second):
            await dr.connect()
            await first.connect()
            ann_id = first.joined["participant_id"]  # type: ignore[index]
            joined = await second.connect()
            assert joined["participant_id"] == ann_id and joined["resumed"] is True
            bye = await first.next_message("bye")
            assert bye["reason"] == "replaced"
            await dr.wait_for(lambda m: m["type"] == "participant_reconnecting" and m["reconnecting"] is False)
            assert types_about(dr, ann_id) == ["participant_joined", "participant_reconnecting:False"]
            assert list(server.media.rooms["r4"].participants) == [dr.joined["participant_id"], ann_id]  # type: ignore[index]


@pytest.mark.parametrize("grace", ["within", "after"])
async def test_the_waiting_queue_keeps_a_returning_visitors_place_within_the_grace(
    tmp_path: Path, store_kind: str, request: pytest.FixtureRequest, grace: str
) -> None:
    async with live(tmp_path, GRACE_S if grace == "within" else SHORT_GRACE_S, store_kind, request) as (server, http):
        now = time.time()
        body = {"kind": "walk_in", "practitioner": {"identity": "dr"}, "starts_at": now - 60, "ends_at": now + 3600}
        room = (await call(http, "POST", "/v1/rooms", body, status=201))["id"]
        v1_token = await token(http, room, "v1", "client")
        v1 = TestPeer(server.ws_url, v1_token, "v1")
        v2 = TestPeer(server.ws_url, await token(http, room, "v2", "client"), "v2")
        async with closing(v1, v2) as peers:
            first = await join_waiting(v1)
            await asyncio.sleep(0.05)
            await join_waiting(v2)
            before = await queue_names(http, room)
            assert [n for n, _ in before] == ["v1", "v2"]

            await v1.close()  # a reload
            if grace == "after":
                deadline = time.monotonic() + 15
                while [n for n, _ in await queue_names(http, room)] != ["v2"]:
                    assert time.monotonic() < deadline, await queue_names(http, room)
                    await asyncio.sleep(0.1)
            back = TestPeer(server.ws_url, v1_token, "v1-back")
            peers.append(back)
            waiting = await join_waiting(back)
            after = await queue_names(http, room)
            if grace == "within":
                assert after == before  # same order, same waiting_since
                assert waiting["waiting_since"] == first["waiting_since"]
            else:
                assert [n for n, _ in after] == ["v2", "v1"]


async def test_an_admitted_client_comes_back_straight_into_the_consultation(tmp_path: Path, store_kind: str, request: pytest.FixtureRequest) -> None:
    async with live(tmp_path, GRACE_S, store_kind, request) as (server, http):
        now = time.time()
        room = (await call(http, "POST", "/v1/rooms", {"kind": "walk_in", "practitioner": {"identity": "dr"}, "starts_at": now - 60, "ends_at": now + 3600}, status=201))["id"]
        dr = TestPeer(server.ws_url, await token(http, room, "dr", "practitioner"), "dr")
        v1_token = await token(http, room, "v1", "client")
        v1 = TestPeer(server.ws_url, v1_token, "v1")
        v2 = TestPeer(server.ws_url, await token(http, room, "v2", "client"), "v2")
        async with closing(dr, v1, v2) as peers:
            await dr.connect()
            await join_waiting(v1)
            await join_waiting(v2)
            v1_id = (await v1.next_message("waiting")) and next(e for e in (await call(http, "GET", f"/v1/rooms/{room}/waiting"))["waiting"] if e["name"] == "V1")["participant_id"]
            await dr.send({"type": "admit", "participant_id": v1_id})
            await v1.next_message("joined")
            await v1.close()
            await dr.next_message("participant_reconnecting")
            back = TestPeer(server.ws_url, v1_token, "v1-back")
            peers.append(back)
            joined = await back.connect()
            assert joined["type"] == "joined" and joined["participant_id"] == v1_id and joined["resumed"] is True
            assert [n for n, _ in await queue_names(http, room)] == ["v2"]  # v2 still waits, v1 did not queue again
            assert types_about(dr, v1_id) == ["participant_joined", "participant_reconnecting:True", "participant_reconnecting:False"]


@pytest.mark.redis
async def test_choices_come_back_through_the_store_when_another_server_serves_the_rejoin(tmp_path: Path, redis_url: str) -> None:
    # Two servers sharing one Redis, one after the other: server one stops while ann is away
    # (a drained or lost node), so the re-join is served by server two, which has no parked
    # session of ann's: only the store.
    # (A room of the control plane: an ad-hoc room, unknown to it, is forgotten with its media.)
    from control.store.redis import RedisStore

    shared = {"session__reconnect_grace_s": GRACE_S, "store__backend": "redis", "store__redis_url": redis_url, "store__redis_prefix": f"rcx{time.monotonic_ns()}:"}
    store = RedisStore(redis_url, prefix=shared["store__redis_prefix"])
    key = await create_key(store, "clinic", None)
    async with running_server(tmp_path / "one", **shared) as one:
        async with aiohttp.ClientSession(base_url=one.http_url, headers={"Authorization": f"Bearer {key}"}) as http:
            room = (await call(http, "POST", "/v1/rooms", {"kind": "quick", "practitioner": {"identity": "dr"}}, status=201))["id"]
            dr_token, ann_token = await token(http, room, "dr", "practitioner"), await token(http, room, "ann", "client")
        dr = TestPeer(one.ws_url, dr_token, "dr")
        ann = TestPeer(one.ws_url, ann_token, "ann")
        async with closing(dr, ann):
            await dr.connect()
            await ann.connect()
            await dr.publish([(PatternVideoTrack(640, 480), "camera")])
            await ann.publish([(PatternVideoTrack(320, 240), "camera")])
            dr_video = await asyncio.wait_for(ann.wait_for(lambda m: m["type"] == "track_published" and m["producer"]["kind"] == "video"), 10)
            await ann.send({"type": "subscription", "producer_id": dr_video["producer"]["producer_id"], "max_height": 180})
            assert (await ann.request({"type": "set_effect", "kind": "blur", "strength": "strong"}, expect=("effect_state", "error")))["type"] == "effect_state"
            await asyncio.sleep(0.5)  # the session writes its choices in a task of its own
            await dr.send({"type": "leave"})
            await dr.next_message("bye")
            await ann.close()
            await asyncio.sleep(0.2)  # server one notices the drop: ann is parked there
    async with running_server(tmp_path / "two", **shared) as two:
        dr_there = TestPeer(two.ws_url, dr_token, "dr-there")
        ann_there = TestPeer(two.ws_url, ann_token, "ann-there")
        async with closing(dr_there, ann_there):
            await dr_there.connect()
            await dr_there.publish([(PatternVideoTrack(640, 480), "camera")])
            joined = await ann_there.connect()
            assert joined["type"] == "joined" and "resumed" not in joined, json.dumps(joined)  # a new participant id here
            received = await ann_there.wait_frames(joined["participants"][0]["participant_id"], "video", 5, timeout=30)
            # the cap is applied right after 'joined': a first frame may still be the full size
            await until(lambda: received.sizes[-1][1] <= 180 and received.frames >= 10, timeout=30)
            effect = ann_there.wait_for(lambda m: m["type"] == "effect_state" and m["participant_id"] == joined["participant_id"])
            await ann_there.publish([(PatternVideoTrack(320, 240), "camera")])
            state = await asyncio.wait_for(effect, 15)
            assert (state["kind"], state.get("strength")) == ("blur", "strong")

            # leaving for good deletes them
            assert await store.get_raw(f"choices:{room}:ann") is not None
            await ann_there.send({"type": "leave"})
            await ann_there.next_message("bye")
            try:
                for _ in range(50):
                    if await store.get_raw(f"choices:{room}:ann") is None:
                        break
                    await asyncio.sleep(0.1)
                assert await store.get_raw(f"choices:{room}:ann") is None
            finally:
                await store.close()
