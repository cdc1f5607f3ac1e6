"""Memory of a server: idle, the first room's one-time cost, per participant of a 1:1 call,
and after many join/leave cycles.

    .venv/bin/python benchmarks/memory_bench.py --cycles 1000

Starts ``consult-sfu serve --workers 1`` (every feature available, defaults otherwise) on a
loopback port and measures the server's process tree (the server and any child it started):

1. idle RSS, 5 s after it answers /healthz;
2. the first room: one join/leave over the signalling protocol (no media). The first join of a
   freshly started server loads the media stack (aiortc, PyAV, pylibsrtp, OpenSSL, aioice:
   ``MediaServer.load_media_stack``), once; RSS 3 s after it minus idle RSS, and that join's
   time (``join`` sent -> ``joined``);
3. ``--calls`` 1:1 calls one after the other, the media stack loaded: two aiortc peers (in
   this process, not counted) publish 320x240 video and audio and receive each other's; RSS
   while both receive, minus RSS before the call, per participant. The first of them still
   makes first-use allocations of a call (DTLS context, codec tables); the later ones are what
   a participant costs;
4. ``--cycles`` join/leave cycles over the signalling protocol (a WebSocket, ``join``,
   ``joined``, ``leave``, ``bye``), one at a time, each with its own identity; RSS, open file
   descriptors and asyncio tasks (``process_open_fds``, ``consult_sfu_event_loop_tasks``
   from /metrics) after 50 warm-up cycles and 5 s after the last.

A freshly started server's first participant pays (2) plus their share of the first call.
Prints JSON (``--json``) or a table. Loopback only; bounded (``--cycles`` at most 5000).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import aioice.ice

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from control.tokens import mint  # noqa: E402
from tests.support.media import PatternVideoTrack, ToneAudioTrack  # noqa: E402
from tests.support.peer import TestPeer  # noqa: E402

SECRET = "memory-bench-secret-0123456789abcdef0123"
BINARY = Path(sys.executable).parent / "consult-sfu"


def loopback_only(use_ipv4: bool = True, use_ipv6: bool = True) -> list[str]:
    return ["127.0.0.1"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tree(pid: int) -> list[int]:
    out = [pid]
    with contextlib.suppress(OSError):
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                for child in fh.read().split():
                    out += tree(int(child))
    return out


def rss_mb(pid: int) -> float:
    total = 0
    for p in tree(pid):
        with contextlib.suppress(OSError), open(f"/proc/{p}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total / 1024


async def scrape(http: aiohttp.ClientSession, base: str) -> dict[str, float]:
    async with http.get(base + "/metrics") as resp:
        text = await resp.text()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


async def wait_healthy(http: aiohttp.ClientSession, base: str, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        with contextlib.suppress(aiohttp.ClientError, OSError):
            async with http.get(base + "/healthz") as resp:
                if resp.status == 200:
                    return
        await asyncio.sleep(0.2)
    raise RuntimeError("server did not become healthy")


async def one_cycle(http: aiohttp.ClientSession, ws_url: str, identity: str, room: str = "cycles") -> float:
    """One join/leave; returns the join's time (``join`` sent -> ``joined``, s)."""
    token = mint(SECRET, room=room, identity=identity, role="client")
    async with http.ws_connect(ws_url) as ws:
        began = time.monotonic()
        await ws.send_str(json.dumps({"v": 1, "type": "join", "token": token, "id": "j"}))
        while True:
            msg = json.loads((await ws.receive(timeout=30)).data)
            if msg["type"] == "joined":
                joined_s = time.monotonic() - began
                break
            if msg["type"] == "error":
                raise RuntimeError(f"join refused: {msg}")
        await ws.send_str(json.dumps({"v": 1, "type": "leave"}))
        with contextlib.suppress(TimeoutError):
            while not ws.closed:
                frame = await ws.receive(timeout=5)
                if frame.type != aiohttp.WSMsgType.TEXT or json.loads(frame.data)["type"] == "bye":
                    break
    return joined_s


async def one_call(ws_url: str, room: str, pid: int) -> tuple[float, float, float]:
    """A 1:1 call: the server tree's RSS while both participants receive each other, the
    first participant's join (``join`` sent -> ``joined``, s) and the time from that join to
    both having received a first video frame (s)."""
    doctor = TestPeer(ws_url, mint(SECRET, room=room, identity="dr", role="practitioner"), "dr")
    patient = TestPeer(ws_url, mint(SECRET, room=room, identity="ann", role="client"), "ann")
    try:
        began = time.monotonic()
        dr = await doctor.connect()
        join_s = time.monotonic() - began
        ann = await patient.connect()
        await doctor.publish([(PatternVideoTrack(320, 240, 15), "camera"), (ToneAudioTrack(), "microphone")])
        await patient.publish([(PatternVideoTrack(320, 240, 15), "camera"), (ToneAudioTrack(), "microphone")])
        await patient.wait_frames(dr["participant_id"], "video", 1, timeout=60)
        await doctor.wait_frames(ann["participant_id"], "video", 1, timeout=60)
        first_frames_s = time.monotonic() - began
        await patient.wait_frames(dr["participant_id"], "video", 30, timeout=60)
        await doctor.wait_frames(ann["participant_id"], "video", 30, timeout=60)
        await asyncio.sleep(3)
        return rss_mb(pid), join_s, first_frames_s
    finally:
        await doctor.close()
        await patient.close()


async def run(cycles: int, n_calls: int = 3) -> dict[str, Any]:
    aioice.ice.get_host_addresses = loopback_only  # our peers live on loopback (aioice leaves it out)
    port = free_port()
    base, ws_url = f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/ws"
    data = Path(tempfile.mkdtemp(prefix="memory-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSULT_SFU_")}
    env.update(CONSULT_SFU_SECRET=SECRET, CONSULT_SFU_DATA_DIR=str(data), CONSULT_SFU_ICE_HOST_ADDRESSES="127.0.0.1",
               CONSULT_SFU_LOG_LEVEL="WARNING")
    proc = await asyncio.to_thread(start_server, port, env)
    out: dict[str, Any] = {}
    try:
        async with aiohttp.ClientSession() as http:
            await wait_healthy(http, base, proc)
            await asyncio.sleep(5)
            out["idle_rss_mb"] = rss_mb(proc.pid)
            out["idle_processes"] = len(tree(proc.pid))

            # the first room of this server: its join loads the media stack (once per process)
            out["first_join_s"] = round(await one_cycle(http, ws_url, "first", room="first-room"), 3)
            await asyncio.sleep(3)
            out["media_stack_rss_mb"] = rss_mb(proc.pid)
            out["first_room_mb"] = out["media_stack_rss_mb"] - out["idle_rss_mb"]

            calls = []
            for round_ in range(1, n_calls + 1):  # the first: a call's first-use allocations; the later: a participant's cost
                before = rss_mb(proc.pid)
                call_rss, join_s, frames_s = await one_call(ws_url, f"call-{round_}", proc.pid)
                calls.append({"rss_before_mb": before, "rss_mb": call_rss, "per_participant_mb": (call_rss - before) / 2,
                              "join_s": round(join_s, 3), "first_frames_s": round(frames_s, 3)})
                await asyncio.sleep(3)
            out["calls"] = calls
            later = [c["per_participant_mb"] for c in calls[1:]] or [calls[0]["per_participant_mb"]]
            out["per_participant_mb"] = max(later)  # the worst of the calls after the first
            out["fresh_first_participant_mb"] = out["first_room_mb"] + calls[0]["per_participant_mb"]
            out["after_calls_rss_mb"] = rss_mb(proc.pid)

            for i in range(50):  # warm-up: first-use allocations, caches
                await one_cycle(http, ws_url, f"warm-{i}")
            await asyncio.sleep(2)
            start = await scrape(http, base)
            out["cycles_start"] = {"rss_mb": rss_mb(proc.pid), "fds": start["process_open_fds"], "tasks": start["consult_sfu_event_loop_tasks"]}
            began = time.monotonic()
            for i in range(cycles):
                await one_cycle(http, ws_url, f"p-{i}")
            out["cycles_s"] = round(time.monotonic() - began, 1)
            await asyncio.sleep(5)
            end = await scrape(http, base)
            out["cycles_end"] = {"rss_mb": rss_mb(proc.pid), "fds": end["process_open_fds"], "tasks": end["consult_sfu_event_loop_tasks"]}
            out["cycles"] = cycles
            out["cycles_rss_change_pct"] = round(100 * (out["cycles_end"]["rss_mb"] / out["cycles_start"]["rss_mb"] - 1), 2)
    finally:
        await asyncio.to_thread(stop_server, proc)
    return out


def start_server(port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    command = [str(BINARY), "serve", "--workers", "1", "--port", str(port)]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cycles", type=int, default=1000)
    parser.add_argument("--calls", type=int, default=3, help="1:1 calls one after the other (1-10)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not 1 <= args.cycles <= 5000:
        parser.error("--cycles must be 1-5000")
    if not 1 <= args.calls <= 10:
        parser.error("--calls must be 1-10")
    result = asyncio.run(run(args.cycles, args.calls))
    if args.json:
        print(json.dumps(result, indent=1))
        return
    s, e = result["cycles_start"], result["cycles_end"]
    print(f"(a) idle server, RSS of its process tree ({result['idle_processes']} processes): {result['idle_rss_mb']:.1f} MB")
    print(f"(b) first room (media stack loaded, once per process): +{result['first_room_mb']:.1f} MB -> {result['media_stack_rss_mb']:.1f} MB; "
          f"its join (join -> joined) {result['first_join_s'] * 1000:.0f} ms")
    for i, c in enumerate(result["calls"], 1):
        print(f"(c) 1:1 call {i}: {c['rss_before_mb']:.1f} -> {c['rss_mb']:.1f} MB, {c['per_participant_mb']:+.2f} MB per participant; "
              f"join {c['join_s'] * 1000:.0f} ms, join -> both peers' first video frame {c['first_frames_s']:.2f} s")
    print(f"    per participant after the first call: at most {result['per_participant_mb']:.2f} MB; after the calls: {result['after_calls_rss_mb']:.1f} MB; "
          f"a fresh server's first participant: {result['fresh_first_participant_mb']:.1f} MB (first room + first call's share)")
    print(f"(d) {result['cycles']} join/leave cycles in {result['cycles_s']} s: RSS {s['rss_mb']:.1f} -> {e['rss_mb']:.1f} MB "
          f"({result['cycles_rss_change_pct']:+.2f} %), fds {s['fds']:.0f} -> {e['fds']:.0f}, tasks {s['tasks']:.0f} -> {e['tasks']:.0f}")


if __name__ == "__main__":
    main()
