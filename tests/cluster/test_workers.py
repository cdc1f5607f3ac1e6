"""`serve --workers 2` on one machine with no Redis configured (what `make run` does on 2 CPUs).

The node starts its own redis-server; new rooms spread over both workers; a call whose
participants entered through different workers has media both ways; `consult-sfu token` and
`consult-sfu apikey create` work as with one process, /metrics has each worker's figures
(label `worker`), and the API key survives a restart
(it lives in data_dir/apikeys.json, not in the private, unpersisted Redis).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp

from control.tokens import mint
from tests.cluster.nodes import Node, start_node, stop_nodes, wait_healthy
from tests.support.media import PatternVideoTrack
from tests.support.peer import TestPeer
from tests.support.server import parse_metrics


async def cli(node: Node, *args: str) -> str:
    binary = Path(sys.executable).parent / "consult-sfu"
    env = {**node.env, "CONSULT_SFU_PORT": str(node.port)}
    proc = await asyncio.create_subprocess_exec(
        str(binary), *args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    return out.decode()


async def cli_token(node: Node, room: str, identity: str) -> str:
    text = await cli(node, "token", "--room", room, "--identity", identity)
    return next(x for x in text.splitlines() if x.startswith("token: ")).removeprefix("token: ")


async def rest_status(node: Node, key: str) -> int:
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"}) as http, http.get(node.http_url + "/v1/rooms") as resp:
        return resp.status


async def test_two_workers_without_redis(tmp_path: Path) -> None:
    # as `make run`: no secret configured (it is made in data_dir), no Redis
    node = start_node(tmp_path, "solo", workers=2, env={"CONSULT_SFU_SECRET": ""})
    peers: list[TestPeer] = []
    try:
        await wait_healthy(node)
        key = (await cli(node, "apikey", "create", "--org", "clinic")).strip().splitlines()[-1]
        assert await rest_status(node, key) == 200
        secret = (node.data_dir / "secret").read_text().strip()  # made by the node: no secret configured
        # new rooms spread over both workers (the first one's token from `consult-sfu token`)
        for i in range(6):
            tok = await cli_token(node, "room-0", "first") if i == 0 else mint(secret, room=f"room-{i}", identity="first")
            peer = TestPeer(node.ws_url, tok, f"first-{i}")
            peers.append(peer)
            assert (await peer.connect())["type"] == "joined"
        workers = json.loads(await cli(node, "nodes", "--json"))["workers"]
        assert len(workers) == 2 and all(w["node"] == "solo" for w in workers)
        # Placement weighs each worker's CPU too (control/cluster/placement.py): on a quiet
        # machine the rooms alternate (3+3, or 2+4 when one CPU sample tips a placement), but
        # beside other tests one worker's CPU share stays 5 % above the other's for seconds and
        # it gets fewer (1+5 was seen with two test processes): both must still take rooms.
        assert min(w["rooms"] for w in workers) >= 1, workers
        # one call, its two participants through whichever workers accepted them: media both ways
        a = TestPeer(node.ws_url, mint(secret, room="call", identity="a"), "a")
        b = TestPeer(node.ws_url, mint(secret, room="call", identity="b"), "b")
        peers += [a, b]
        ja, jb = await a.connect(), await b.connect()
        await a.publish([(PatternVideoTrack(320, 240, 15), "camera")])
        await b.publish([(PatternVideoTrack(320, 240, 15), "camera")])
        await a.wait_frames(jb["participant_id"], "video", 5, timeout=30)
        await b.wait_frames(ja["participant_id"], "video", 5, timeout=30)
        metrics = parse_metrics(await node.metrics())  # the node's figures: each worker's, labelled
        assert metrics['consult_sfu_rooms{worker="0"}'] + metrics['consult_sfu_rooms{worker="1"}'] == 7
        assert [v for k, v in metrics.items() if k.startswith("consult_sfu_cluster_scrape_missing")] == [0]
        assert sum(v for k, v in metrics.items() if k.startswith("consult_sfu_cluster_forwarded_joins_total")) >= 1
        # a worker that crashes: its lease is deleted at once (its rooms are free), and it is started again
        crashed = next(w for w in workers if w["index"] == 1)
        os.kill(crashed["pid"], signal.SIGKILL)
        for _ in range(100):
            ids = [w["worker_id"] for w in (await node.cluster())["workers"]]
            if crashed["worker_id"] not in ids:
                break
            await asyncio.sleep(0.05)
        assert crashed["worker_id"] not in ids and len(ids) == 1  # well before its lease (3 s) would expire
        for _ in range(200):
            workers = (await node.cluster())["workers"]
            if len(workers) == 2:
                break
            await asyncio.sleep(0.1)
        assert sorted(w["index"] for w in workers) == [0, 1] and crashed["pid"] not in {w["pid"] for w in workers}
    finally:
        await asyncio.gather(*(p.close() for p in peers), return_exceptions=True)
        await stop_nodes(node)
    assert node.proc.returncode == 0, node.log()
    # the same node again: the API key is still known
    node = start_node(tmp_path, "solo", workers=2, env={"CONSULT_SFU_SECRET": ""}, port=node.port)
    try:
        await wait_healthy(node)
        assert await rest_status(node, key) == 200
    finally:
        await stop_nodes(node)
