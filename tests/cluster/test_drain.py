"""Drain: a node stops taking rooms at once, lets its calls run until the deadline, then moves them.

Two nodes on one Redis: a call runs on B; `consult-sfu drain --grace 5` for B makes B's
/healthz answer 503 `draining` at once, new rooms go to A, the call on B keeps its media
until the deadline, then its participants are moved (1012, they re-join) and get media again
from A, and B exits. A single node draining on SIGTERM tells its participants
`bye` `server_shutdown` within 1 s of the grace's end and exits within 10 s of it.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import pytest

from tests.cluster.nodes import (
    SECRET,
    Node,
    new_prefix,
    start_node,
    stop_nodes,
    token,
    wait_healthy,
)
from tests.cluster.rejoin import RejoiningPeer

pytestmark = [pytest.mark.redis, pytest.mark.serial]
GRACE_S = 3.0
# The drain test's grace: the CLI's start-up (a second or two on a loaded CI machine) and the
# new-room checks happen inside it, and the call must still be seen running afterwards.
DRAIN_GRACE_S = 5.0


async def drain_cli(node: Node, grace: float) -> None:
    """`consult-sfu drain --grace G --no-wait` for ``node`` (signed with the shared secret)."""
    binary = Path(sys.executable).parent / "consult-sfu"
    proc = await asyncio.create_subprocess_exec(
        str(binary), "drain", "--url", node.http_url, "--grace", str(grace), "--no-wait",
        env={**node.env, "CONSULT_SFU_SECRET": SECRET}, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    assert b"draining" in out


async def eventually_rooms(node: Node, expected: dict[str, tuple[int, bool]]) -> None:
    """The registry as ``node`` sees it, once workers refreshed their records (at most 0.1 s after a change)."""
    rooms: dict[str, tuple[int, bool]] = {}
    for _ in range(40):
        rooms = {w["node"]: (w["rooms"], w["draining"]) for w in (await node.cluster())["workers"]}
        if rooms == expected:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"rooms by node {rooms}, expected {expected}")


async def test_drain_moves_calls_after_the_deadline_and_sends_new_rooms_elsewhere(tmp_path: Path, redis_url: str) -> None:
    prefix = new_prefix()
    b = start_node(tmp_path, "b", redis_url=redis_url, prefix=prefix, env={"CONSULT_SFU_CLUSTER_DRAIN_GRACE_S": "60"})
    await wait_healthy(b)
    nodes = [b]
    peers: list[RejoiningPeer] = []
    try:
        x = RejoiningPeer([b.ws_url], token("call", "x"), "x")
        peers.append(x)
        await x.start()  # the room is placed on B, the only node
        a = start_node(tmp_path, "a", redis_url=redis_url, prefix=prefix)
        await wait_healthy(a)
        nodes.append(a)
        y = RejoiningPeer([a.ws_url], token("call", "y"), "y")
        peers.append(y)
        await y.start()
        await x.wait_media_from("y")
        await y.wait_media_from("x")
        loop = asyncio.get_running_loop()
        joins = (len(x.joins), len(y.joins))
        asked_at = loop.time()  # the node's deadline is at least DRAIN_GRACE_S after this
        await drain_cli(b, DRAIN_GRACE_S)
        drained_at = loop.time()
        before = x.media_from("y"), y.media_from("x")
        status, health = await b.healthz()
        assert (status, health["status"]) == (503, "draining")
        # a new room entering through B goes to A
        z = RejoiningPeer([b.ws_url, a.ws_url], token("new-room", "z"), "z", publish=False)
        peers.append(z)
        await z.start()
        await eventually_rooms(a, {"a": (1, False), "b": (1, True)})
        # the call on B goes on until the deadline: media keeps flowing from the drain on
        await asyncio.sleep(max(0.0, asked_at + DRAIN_GRACE_S - 1.0 - loop.time()))
        assert (len(x.joins), len(y.joins)) == joins and not x.closes and not y.closes, (x.closes, y.closes, drained_at, [n.log(30) for n in nodes])
        gained = x.media_from("y") - before[0], y.media_from("x") - before[1]
        assert min(gained) > 10, (gained, f"frames in the {loop.time() - drained_at:.2f} s since the drain")
        # then it moves: both re-join (B stopped listening: x goes to A, as behind a load
        # balancer) and get media from A
        x.urls = [b.ws_url, a.ws_url]
        back = await asyncio.gather(
            x.wait_media_from("y", after_joins=joins[0], timeout=20), y.wait_media_from("x", after_joins=joins[1], timeout=20)
        )
        assert x.closes[0][1] == 1012 and y.closes[0][1] == 1012
        assert all(at - asked_at >= DRAIN_GRACE_S - 0.5 for at, _ in (*x.closes, *y.closes)), (x.closes, y.closes)
        print(f"moved {max(back) - drained_at - DRAIN_GRACE_S:.2f} s after the deadline")
        assert x.bye is None and y.bye is None  # no consultation dropped
        assert await b.wait_exit(15) == 0
        await eventually_rooms(a, {"a": (2, False)})
    finally:
        await asyncio.gather(*(p.close() for p in peers), return_exceptions=True)
        await stop_nodes(*nodes)


async def test_sigterm_on_a_single_node_says_server_shutdown_when_the_grace_ends(tmp_path: Path) -> None:
    node = start_node(tmp_path, "solo", env={"CONSULT_SFU_CLUSTER_DRAIN_GRACE_S": str(GRACE_S)})
    await wait_healthy(node)
    peer = RejoiningPeer([node.ws_url], token("solo", "p"), "p", publish=False)
    try:
        await peer.start()
        loop = asyncio.get_running_loop()
        node.signal(signal.SIGTERM)
        sent = loop.time()
        await asyncio.sleep(0.3)
        status, health = await node.healthz()  # still listening, and says so
        assert (status, health["status"]) == (503, "draining")
        for _ in range(int((GRACE_S + 5) / 0.02)):
            if peer.bye is not None:
                break
            await asyncio.sleep(0.02)
        assert peer.bye is not None and peer.bye["reason"] == "server_shutdown"
        bye_at = peer.closes[-1][0]
        assert GRACE_S - 0.3 <= bye_at - sent <= GRACE_S + 1.0, bye_at - sent
        assert await node.wait_exit(GRACE_S + 10 - (loop.time() - sent)) == 0
    finally:
        await peer.close()
        await stop_nodes(node)
