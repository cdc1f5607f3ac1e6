"""Background effects on a node with two workers: the images and choices live in the store.

An administrator's upload reaches whichever worker accepted the HTTP connection; the two
rooms here are placed one on each worker (`consult-sfu nodes` says so), so one of them runs
on a worker that did not take the upload. Both rooms are offered the image, can apply it,
get the new list when another image is added, and a practitioner's choice made in one room
is asked again in the other (`effects_ask_again`). Before the images and choices moved to
the store, the second worker answered `not_found` for the image and asked nothing.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.cluster.nodes import Node, start_node, stop_nodes, wait_healthy
from tests.effects_e2e.test_policy_and_uploads import GARDEN_BGR, png_bytes, solid_png
from tests.support.media import PatternVideoTrack
from tests.support.peer import TestPeer

pytestmark = pytest.mark.long


async def cli(node: Node, *args: str) -> str:
    binary = Path(sys.executable).parent / "consult-sfu"
    proc = await asyncio.create_subprocess_exec(
        str(binary), *args, env={**node.env, "CONSULT_SFU_PORT": str(node.port)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    return out.decode()


async def call(http: aiohttp.ClientSession, method: str, path: str, body: Any = None, status: int = 200, **kwargs: Any) -> Any:
    if body is not None:
        kwargs["json"] = body
    async with http.request(method, path, **kwargs) as resp:
        data = await resp.json() if resp.content_type == "application/json" else await resp.read()
        assert resp.status == status, (resp.status, data)
        return data


async def room_for_dr(http: aiohttp.ClientSession) -> str:
    now = time.time()
    body = {
        "kind": "appointment", "practitioner": {"identity": "dr"}, "client": {"identity": "ann"},
        "starts_at": now + 60, "ends_at": now + 3600, "settings": {"effects_ask_again": True},
    }
    return str((await call(http, "POST", "/v1/rooms", body, status=201))["id"])


async def workers_of(node: Node) -> list[dict[str, Any]]:
    """The node's worker records, as `consult-sfu nodes --json` lists them."""
    return list(json.loads(await cli(node, "nodes", "--json"))["workers"])


async def participants_seen(node: Node, total: int) -> None:
    """Wait until the workers' records (renewed every heartbeat) count ``total`` participants."""
    for _ in range(100):
        workers = await workers_of(node)
        if sum(w["participants"] for w in workers) == total:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"the workers' records never counted {total} participants: {workers}")


async def test_images_and_choices_are_seen_by_rooms_on_either_worker(tmp_path: Path) -> None:
    # no Redis configured: the node's private one. One participant per worker, and each join
    # seen in the records before the next: the two rooms go one on each worker whatever their
    # CPU shares say (an upload's decoding on one worker once sent both rooms to the other;
    # placement by load is tests/cluster/test_placement.py's)
    node = start_node(tmp_path, "fx", workers=2, env={"CONSULT_SFU_CLUSTER_MAX_PARTICIPANTS": "1"})
    peers: list[TestPeer] = []
    try:
        await wait_healthy(node, timeout=120)
        key = (await cli(node, "apikey", "create", "--org", "clinic")).strip().splitlines()[-1]
        async with aiohttp.ClientSession(base_url=node.http_url, headers={"Authorization": f"Bearer {key}"}) as http:
            garden = await call(http, "POST", "/v1/backgrounds?name=Garden", data=solid_png(GARDEN_BGR), headers={"Content-Type": "image/png"}, status=201)
            rooms = [await room_for_dr(http), await room_for_dr(http)]
            for i, room in enumerate(rooms):
                issued = await call(http, "POST", f"/v1/rooms/{room}/tokens", {"identity": "dr", "name": "Dr", "role": "practitioner"}, status=201)
                peer = TestPeer(node.ws_url, issued["token"], f"dr-{i}")
                peers.append(peer)
                assert (await peer.connect())["type"] == "joined"
                await participants_seen(node, i + 1)  # the first worker at its cap before the second room
            workers = await workers_of(node)
            assert sorted(w["rooms"] for w in workers) == [1, 1], workers  # one room on each worker

            for peer in peers:  # offered on both workers
                offered = await peer.next_message("backgrounds")
                assert [i["image_id"] for i in offered["images"]] == [garden["image_id"]], peer.name
            for _ in range(4):  # the thumbnail, whichever worker accepts the request
                async with http.get("/" + offered["images"][0]["thumbnail_url"]) as resp:
                    assert resp.status == 200 and resp.content_type == "image/jpeg"

            for peer in peers:  # applied on both workers
                await peer.publish([(PatternVideoTrack(320, 240, 15), "camera")])
                reply = await peer.request(
                    {"type": "set_effect", "kind": "image", "image_id": garden["image_id"]}, expect=("effect_state", "error"), timeout=30
                )
                assert reply["type"] == "effect_state" and reply["image_id"] == garden["image_id"], (peer.name, reply)

            # an image added through whichever worker: both rooms get the new list
            counts = [len(p.messages) for p in peers]
            beach = await call(http, "POST", "/v1/backgrounds?name=Beach", data=png_bytes(480, 270), headers={"Content-Type": "image/png"}, status=201)
            for peer, count in zip(peers, counts, strict=True):
                updated = await peer.next_message("backgrounds", after=count)
                assert [i["name"] for i in updated["images"]] == ["Garden", "Beach"], peer.name
            # deleted through whichever worker: no room can pick it any more
            await call(http, "DELETE", f"/v1/backgrounds/{beach['image_id']}", status=204)
            for peer in peers:
                refused = await peer.request({"type": "set_effect", "kind": "image", "image_id": beach["image_id"]}, expect=("effect_state", "error"))
                assert refused["type"] == "error" and refused["code"] == "not_found", (peer.name, refused)

            # the last choice (made on the worker of room 1: blur) is asked again in room 0's worker
            reply = await peers[1].request({"type": "set_effect", "kind": "blur", "strength": "strong"}, expect=("effect_state", "error"), timeout=30)
            assert reply["type"] == "effect_state", reply
            await peers[0].close()
            # room 0's worker frees it (its record says so within a heartbeat); the other worker
            # is at its cap, so room 0 goes back to the freed one
            await participants_seen(node, 1)
            issued = await call(http, "POST", f"/v1/rooms/{rooms[0]}/tokens", {"identity": "dr", "name": "Dr", "role": "practitioner"}, status=201)
            again = TestPeer(node.ws_url, issued["token"], "dr-again")
            peers.append(again)
            assert (await again.connect())["type"] == "joined"
            workers = await workers_of(node)
            assert sorted(w["rooms"] for w in workers) == [1, 1], workers  # room 0 again, on the worker room 1 is not on
            previous = await again.next_message("effect_previous")
            assert (previous["kind"], previous["strength"]) == ("blur", "strong")
    finally:
        await asyncio.gather(*(p.close() for p in peers), return_exceptions=True)
        await stop_nodes(node)
