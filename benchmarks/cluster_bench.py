"""Cluster benchmark (issue 12): join through a non-owner, node loss, drain, Redis operations.

Real nodes (``consult-sfu serve`` processes, tests/cluster/nodes.py) on loopback sharing a
redis-server this script starts on a free loopback port; aiortc peers (tests/support/peer.py)
publish 320x240 pattern video at 30 fps with a tone. Every wait is bounded and everything
started is stopped at the end (nodes are process groups; SIGKILL as a last resort).

    .venv/bin/python benchmarks/cluster_bench.py                        # all four parts, ~3-4 min
    .venv/bin/python benchmarks/cluster_bench.py --only join --joins 30 --json out.json

Parts:

* ``join``: a room owned by node A (its publisher entered there); subscribers join one after
  the other, alternately at A (the owner) and at B (which forwards the socket to A). Per
  join: time from opening the WebSocket to ``joined``, and to the first decoded video frame.
  The extra time of the non-owner entrance = its percentile minus the owner's. Target: p95
  of the extra time to first frame <= 50 ms.
* ``loss``: repeated runs of: a call owned by node B (practitioner entered at B, client at A),
  SIGKILL of B, both re-join as the JS client does (tests/cluster/rejoin.py). Media gap = kill
  to the first video frame on the new connection. Target: p95 <= 5 s.
* ``drain``: a rolling restart of two nodes (SIGTERM with ``drain_grace_s`` 3 s, wait for the
  exit, start it again, then the other node) with consultations running. A consultation is
  dropped when one of its participants gets ``bye``, cannot re-join, or does not get the
  other's video again. Target: zero dropped.
* ``redis``: every command the node's workers send to Redis (``MONITOR``), one node with
  ``--workers 2``: at rest, for a first join (places the room), a second join, a second of a
  running two-party call, and the leaves. Cluster keys (leases, the workers' index,
  placements) are counted apart from the control plane's (rooms, presence, events). Target:
  <= 1 op/s per worker at rest.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aioice.ice  # noqa: E402

from control.cluster.records import placement_key  # noqa: E402
from control.store.redis import RedisStore  # noqa: E402
from loadtest.metrics import percentile  # noqa: E402
from tests.cluster.nodes import (  # noqa: E402
    Node,
    RedisServer,
    free_port,
    new_prefix,
    start_node,
    stop_nodes,
    token,
    wait_healthy,
)
from tests.cluster.rejoin import RejoiningPeer  # noqa: E402
from tests.support.media import PatternVideoTrack, ToneAudioTrack  # noqa: E402
from tests.support.peer import TestPeer  # noqa: E402

PARTS = ("join", "loss", "drain", "redis")
DRAIN_GRACE_S = 3.0


def ms(values: list[float]) -> dict[str, float | None]:
    def r(v: float | None) -> float | None:
        return None if v is None else round(v * 1000.0, 1)

    return {"n": len(values), "p50_ms": r(percentile(values, 50)), "p95_ms": r(percentile(values, 95)), "max_ms": r(max(values) if values else None)}


def say(line: str) -> None:
    print(line, flush=True)


async def owner_node(redis: RedisServer, prefix: str, room: str, nodes: list[Node]) -> Node | None:
    store = RedisStore(redis.url, prefix=prefix)
    try:
        owner = (await store.get_raw(placement_key(room)) or b"").decode()
    finally:
        await store.close()
    return next((n for n in nodes if owner.startswith(n.name + "/")), None)


async def publish(peer: TestPeer) -> None:
    await peer.publish([(PatternVideoTrack(320, 240, 30), "camera"), (ToneAudioTrack(), "microphone")])


# ---------------------------------------------------------------- join through a non-owner


async def bench_join(tmp: Path, redis: RedisServer, joins: int) -> dict[str, Any]:
    prefix = new_prefix()
    nodes = [start_node(tmp, name, redis_url=redis.url, prefix=prefix) for name in ("ja", "jb")]
    await asyncio.gather(*(wait_healthy(n) for n in nodes))
    room = "bench-join"
    publisher = TestPeer(nodes[0].ws_url, token(room, "pub", "practitioner"), "pub")
    timings: dict[str, dict[str, list[float]]] = {"owner": {"joined": [], "frame": []}, "non_owner": {"joined": [], "frame": []}}
    errors: list[str] = []
    try:
        joined = await publisher.connect()
        pub_id = joined["participant_id"]
        await publish(publisher)
        owner = await owner_node(redis, prefix, room, nodes)
        if owner is None:
            raise RuntimeError("the room has no placement")
        other = nodes[1] if owner is nodes[0] else nodes[0]
        loop = asyncio.get_running_loop()
        for i in range(2 * joins):
            kind, entrance = ("owner", owner) if i % 2 == 0 else ("non_owner", other)
            sub = TestPeer(entrance.ws_url, token(room, f"s{i}"), f"s{i}")
            try:
                began = loop.time()
                reply = await asyncio.wait_for(sub.connect(), 15)
                if reply["type"] != "joined":
                    raise RuntimeError(f"join refused: {reply}")
                joined_at = loop.time()
                rec = await sub.wait_frames(pub_id, "video", 1, timeout=15)
                assert rec.first_frame_at is not None
                timings[kind]["joined"].append(joined_at - began)
                timings[kind]["frame"].append(rec.first_frame_at - began)
            except Exception as exc:  # counted, the run goes on
                errors.append(f"{kind} join {i}: {type(exc).__name__}: {exc}")
            finally:
                await sub.close()
            # the server sends at most one keyframe request per producer per second: spaced out
            # so, every join's request goes out at once (else the throttle's wait is the noise)
            await asyncio.sleep(1.2)
    finally:
        await publisher.close()
        await stop_nodes(*nodes)
    result: dict[str, Any] = {kind: {what: ms(v) for what, v in t.items()} for kind, t in timings.items()}
    for what in ("joined", "frame"):
        for q in ("p50_ms", "p95_ms"):
            a, b = result["owner"][what][q], result["non_owner"][what][q]
            result.setdefault("extra", {})[f"{what}_{q}"] = None if a is None or b is None else round(b - a, 1)
    result["errors"] = errors
    extra95 = result["extra"]["frame_p95_ms"]
    result["target_met"] = extra95 is not None and extra95 <= 50.0 and not errors
    return result


# ---------------------------------------------------------------- node loss


async def bench_loss(tmp: Path, redis: RedisServer, kills: int) -> dict[str, Any]:
    prefix = new_prefix()
    a = start_node(tmp, "la", redis_url=redis.url, prefix=prefix)
    await wait_healthy(a)
    gaps: list[float] = []
    runs: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    b: Node | None = None
    try:
        for r in range(kills):
            b = start_node(tmp / f"run{r}", "lb", redis_url=redis.url, prefix=prefix)
            await wait_healthy(b)
            room = f"bench-loss-{r}"
            doctor = RejoiningPeer([b.ws_url, a.ws_url], token(room, "dr", "practitioner"), "dr")
            client = RejoiningPeer([a.ws_url], token(room, "ann"), "ann")
            try:
                await doctor.start()  # through B: placed on B (the entrance wins a tie)
                await client.start()  # through A, forwarded to B
                await doctor.wait_media_from("ann")
                await client.wait_media_from("dr")
                owner = await owner_node(redis, prefix, room, [a, b])
                if owner is not b:
                    runs.append({"run": r, "skipped": f"room placed on {owner.name if owner else None}, not on the node to kill"})
                    continue
                joins = len(doctor.joins), len(client.joins)
                killed = loop.time()
                await asyncio.to_thread(b.kill)
                back = await asyncio.gather(
                    doctor.wait_media_from("ann", frames=1, timeout=20, after_joins=joins[0]),
                    client.wait_media_from("dr", frames=1, timeout=20, after_joins=joins[1]),
                    return_exceptions=True,
                )
                run: dict[str, Any] = {"run": r}
                for who, at in zip(("practitioner", "client"), back, strict=True):
                    if isinstance(at, BaseException):
                        run[who] = f"no media within 20 s: {at}"
                        gaps.append(20.0)
                    else:
                        run[f"{who}_gap_s"] = round(at - killed, 3)
                        gaps.append(at - killed)
                runs.append(run)
                say(f"  loss run {r}: {run}")
            finally:
                await doctor.close()
                await client.close()
                await stop_nodes(b)
    finally:
        await stop_nodes(a, *([b] if b is not None else []))
    p95 = percentile(gaps, 95)
    return {
        "runs": runs, "gaps": len(gaps),
        "gap_p50_s": None if not gaps else round(percentile(gaps, 50) or 0, 3),
        "gap_p95_s": None if p95 is None else round(p95, 3), "gap_max_s": round(max(gaps), 3) if gaps else None,
        "target_met": p95 is not None and p95 <= 5.0,
    }


# ---------------------------------------------------------------- drain: rolling restart


async def _media_flows(peer: RejoiningPeer, partner: str, within: float = 20.0) -> bool:
    """The peer's current connection gets new video frames from ``partner``."""
    deadline = asyncio.get_running_loop().time() + within
    before = peer.media_from(partner), len(peer.joins)
    while asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.2)
        now = peer.media_from(partner), len(peer.joins)
        if now[1] != before[1]:
            before = now  # re-joined meanwhile: count on the new connection
        elif now[0] >= before[0] + 5:
            return True
    return False


async def _media_back(peer: RejoiningPeer, joins: int) -> float:
    """Loop time of the first video frame from the partner on a connection after ``joins`` joins."""
    partner = "ann" if peer.name.startswith("dr") else "dr"
    loop = asyncio.get_running_loop()
    for _ in range(3000):  # 60 s at most
        if len(peer.joins) > joins and peer.media_from(partner) >= 1:
            return loop.time()
        await asyncio.sleep(0.02)
    raise TimeoutError(f"{peer.name}: no video from {partner} on a new connection within 60 s")


async def bench_drain(tmp: Path, redis: RedisServer, calls: int) -> dict[str, Any]:
    prefix = new_prefix()
    env = {"CONSULT_SFU_CLUSTER_DRAIN_GRACE_S": str(DRAIN_GRACE_S)}
    nodes = {name: start_node(tmp, name, redis_url=redis.url, prefix=prefix, env=env) for name in ("da", "db")}
    await asyncio.gather(*(wait_healthy(n) for n in nodes.values()))
    ports = {name: n.port for name, n in nodes.items()}
    urls = {name: n.ws_url for name, n in nodes.items()}
    pairs: list[tuple[RejoiningPeer, RejoiningPeer]] = []
    steps: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    try:
        for i in range(calls):
            first, second = ("da", "db") if i % 2 == 0 else ("db", "da")
            dr = RejoiningPeer([urls[first], urls[second]], token(f"bench-drain-{i}", "dr", "practitioner"), f"dr{i}")
            cl = RejoiningPeer([urls[second], urls[first]], token(f"bench-drain-{i}", "ann"), f"ann{i}")
            pairs.append((dr, cl))
            await dr.start()
            await cl.start()
        await asyncio.gather(*(p.wait_media_from(o) for dr, cl in pairs for p, o in ((dr, "ann"), (cl, "dr"))))
        placed = Counter()
        for i in range(calls):
            owner = await owner_node(redis, prefix, f"bench-drain-{i}", list(nodes.values()))
            placed[owner.name if owner else "none"] += 1
        say(f"  drain: {calls} calls placed {dict(placed)}")
        for name in ("da", "db"):
            node = nodes[name]
            joins = {p.name: len(p.joins) for pair in pairs for p in pair}
            back_at = {p.name: asyncio.create_task(_media_back(p, joins[p.name])) for pair in pairs for p in pair}
            began = loop.time()
            node.signal(15)  # SIGTERM: drain with the grace, then move what is left
            code = await node.wait_exit(DRAIN_GRACE_S + 25)
            exited = loop.time() - began
            nodes[name] = start_node(tmp / f"{name}-restart{len(steps)}", name, redis_url=redis.url, prefix=prefix, port=ports[name], env=env)
            await wait_healthy(nodes[name])
            restarted = loop.time() - began
            moved = {p.name: p for pair in pairs for p in pair if len(p.joins) > joins[p.name]}
            flows = await asyncio.gather(*(_media_flows(p, "ann" if p.name.startswith("dr") else "dr") for pair in pairs for p in pair))
            gaps = []
            for who, task in back_at.items():
                if who in moved:
                    back = await asyncio.wait_for(task, 20)
                    close_at = next((at for at, _ in moved[who].closes if at >= began), None)
                    if close_at is not None:
                        gaps.append(back - close_at)
                else:
                    task.cancel()
            await asyncio.gather(*back_at.values(), return_exceptions=True)
            step = {
                "node": name, "exit_code": code, "exited_after_s": round(exited, 2), "serving_again_after_s": round(restarted, 2),
                "participants_moved": len(moved), "media_flowing": sum(flows), "participants": len(flows),
                "move_gap": ms(gaps),
            }
            steps.append(step)
            say(f"  drain step: {step}")
        dropped = 0
        for dr, cl in pairs:
            ok = all(p.bye is None and p._watch is not None and not p._watch.done() for p in (dr, cl))
            ok = ok and all(await asyncio.gather(_media_flows(dr, "ann"), _media_flows(cl, "dr")))
            dropped += not ok
    finally:
        await asyncio.gather(*(p.close() for pair in pairs for p in pair), return_exceptions=True)
        await stop_nodes(*nodes.values())
    return {"calls": calls, "steps": steps, "dropped_consultations": dropped, "target_met": dropped == 0}


# ---------------------------------------------------------------- Redis operations

_MONITOR = re.compile(r'^(\d+\.\d+) \[\d+ [^\]]+\] "([^"]+)"(?: "((?:[^"\\]|\\.)*)")?')
CLUSTER_KEYS = ("worker:", "idx:{w}:", "placement:")


class Monitor:
    """``redis-cli monitor``: every command the server executes, with its time and first key."""

    def __init__(self, port: int, prefix: str) -> None:
        self.port = port
        self.prefix = prefix
        self.lines: list[tuple[float, str, str]] = []
        self.proc: asyncio.subprocess.Process | None = None
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            "redis-cli", "-p", str(self.port), "monitor", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,
        )
        self.task = asyncio.create_task(self._read())
        await asyncio.sleep(0.3)

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            m = _MONITOR.match(line.decode(errors="replace"))
            if m:
                self.lines.append((float(m.group(1)), m.group(2).upper(), m.group(3) or ""))

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        if self.task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.task, 5)

    def window(self, t0: float, t1: float) -> dict[str, Any]:
        ops = [(c, k) for at, c, k in self.lines if t0 <= at < t1 and c not in ("MONITOR", "INFO", "PING", "CLIENT")]
        # EXEC/MULTI/WATCH/UNWATCH have no key of ours but belong to the transaction around them
        cluster = [c for c, k in ops if k.startswith(self.prefix) and k[len(self.prefix):].startswith(CLUSTER_KEYS)]
        return {
            "seconds": round(t1 - t0, 2), "ops": len(ops), "cluster_key_ops": len(cluster),
            "by_command": dict(Counter(c for c, _ in ops).most_common()),
            "cluster_by_command": dict(Counter(cluster).most_common()),
        }


async def bench_redis(tmp: Path, redis: RedisServer, rest_s: float, running_s: float) -> dict[str, Any]:
    prefix = new_prefix()
    workers = 2
    node = start_node(tmp, "ra", redis_url=redis.url, prefix=prefix, workers=workers)
    await wait_healthy(node, timeout=120)
    monitor = Monitor(redis.port, prefix)
    peers: list[TestPeer] = []
    out: dict[str, Any] = {"workers": workers}
    try:
        await asyncio.sleep(3.0)  # start-up registrations and first scrapes are over
        await monitor.start()

        async def timed(label: str, work: Any, settle: float = 0.5) -> None:
            t0 = time.time()
            await work
            await asyncio.sleep(settle)
            out[label] = monitor.window(t0, time.time())

        async def rest() -> None:
            await asyncio.sleep(rest_s)

        await timed("at_rest", rest(), settle=0.0)
        out["at_rest"]["ops_per_s_per_worker"] = round(out["at_rest"]["ops"] / out["at_rest"]["seconds"] / workers, 3)
        out["at_rest"]["cluster_ops_per_s_per_worker"] = round(out["at_rest"]["cluster_key_ops"] / out["at_rest"]["seconds"] / workers, 3)
        room = "bench-redis"

        async def join(identity: str, role: str) -> None:
            peer = TestPeer(node.ws_url, token(room, identity, role), identity)
            peers.append(peer)
            reply = await peer.connect()
            if reply["type"] != "joined":
                raise RuntimeError(f"join refused: {reply}")
            await publish(peer)

        await timed("first_join", join("dr", "practitioner"))
        await timed("second_join", join("ann", "client"))
        await asyncio.sleep(1.0)
        await timed("running_call", rest(), settle=0.0)
        running = out["running_call"]
        running["ops_per_s"] = round(running["ops"] / running["seconds"], 3)
        running["ops_per_s_above_rest"] = round(running["ops_per_s"] - out["at_rest"]["ops"] / out["at_rest"]["seconds"], 3)

        async def leave_all() -> None:
            for peer in peers:
                await peer.close()

        await timed("leaves", leave_all(), settle=1.0)
    finally:
        await monitor.stop()
        for peer in peers:
            await peer.close()
        await stop_nodes(node)
    out["target_met"] = out.get("at_rest", {}).get("ops_per_s_per_worker", 99) <= 1.0
    return out


# ---------------------------------------------------------------- main


async def amain(args: argparse.Namespace) -> dict[str, Any]:
    # aioice leaves 127.0.0.1 out of its host candidates; every peer here lives on loopback
    aioice.ice.get_host_addresses = lambda use_ipv4=True, use_ipv6=True: ["127.0.0.1"]
    redis = RedisServer(free_port())
    redis.start()
    results: dict[str, Any] = {
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": "python benchmarks/cluster_bench.py " + " ".join(sys.argv[1:]),
        "load_avg_1m_at_start": round(os.getloadavg()[0], 2),
    }
    try:
        with tempfile.TemporaryDirectory(prefix="cluster-bench-") as tmp:
            for part in args.only:
                say(f"== {part}")
                began = time.monotonic()
                folder = Path(tmp) / part
                folder.mkdir()
                if part == "join":
                    results[part] = await asyncio.wait_for(bench_join(folder, redis, args.joins), 120 + 5 * args.joins)
                elif part == "loss":
                    results[part] = await asyncio.wait_for(bench_loss(folder, redis, args.kills), 60 + 45 * args.kills)
                elif part == "drain":
                    results[part] = await asyncio.wait_for(bench_drain(folder, redis, args.calls), 240)
                else:
                    results[part] = await asyncio.wait_for(bench_redis(folder, redis, args.rest, args.running), 180)
                results[part]["seconds"] = round(time.monotonic() - began, 1)
                say(json.dumps(results[part], indent=1))
    finally:
        redis.stop()
    results["load_avg_1m_at_end"] = round(os.getloadavg()[0], 2)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(PARTS), help=f"comma-separated parts: {', '.join(PARTS)}")
    parser.add_argument("--joins", type=int, default=20, help="join: joins at each entrance (1-100)")
    parser.add_argument("--kills", type=int, default=5, help="loss: SIGKILL runs (1-20)")
    parser.add_argument("--calls", type=int, default=4, help="drain: consultations running during the rolling restart (1-10)")
    parser.add_argument("--rest", type=float, default=10.0, help="redis: seconds measured at rest (2-60)")
    parser.add_argument("--running", type=float, default=10.0, help="redis: seconds measured with a call running (2-60)")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    args.only = [p.strip() for p in args.only.split(",") if p.strip()]
    problems = [f"--only: unknown part {p!r}" for p in args.only if p not in PARTS]
    for name, value, lo, hi in (("joins", args.joins, 1, 100), ("kills", args.kills, 1, 20), ("calls", args.calls, 1, 10),
                                ("rest", args.rest, 2, 60), ("running", args.running, 2, 60)):
        if not lo <= value <= hi:
            problems.append(f"--{name} must be between {lo} and {hi}, got {value}")
    if problems:
        parser.error("; ".join(problems))
    results = asyncio.run(amain(args))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    say("summary: " + ", ".join(f"{p} target {'met' if results[p].get('target_met') else 'NOT met'}" for p in args.only))
    return 0


if __name__ == "__main__":
    sys.exit(main())
