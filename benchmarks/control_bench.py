"""Control-plane benchmark: token issue and waiting-queue reads, in memory and with Redis.

The API server runs in its own process pinned to one core (``taskset -c SERVER_CPU``,
uvloop, access log off); a bounded closed-loop load generator (a fixed number of
keep-alive HTTP/1.1 connections, each with one request in flight) runs pinned to the
other core, together with redis-server for the Redis runs. Reported per case: requests/s,
p50/p99 latency, the error count and the server's own CPU time per request (from
/proc: robust to other load on a shared machine; 1000 / that = what one core sustains).

    .venv/bin/python benchmarks/control_bench.py                 # both stores, 10 s per case
    .venv/bin/python benchmarks/control_bench.py --duration 5 --connections 32 --json out.json

Target (issue 4): >= 3,000 requests/s with p99 <= 20 ms on one core.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WAITING_ENTRIES = 10


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------- server process


async def serve(store_kind: str, port: int, redis_url: str | None) -> None:
    from aiohttp import web

    from control.api import setup_api
    from control.apikeys import create_key
    from control.domain.rules import Joiner
    from control.domain.scope import Scope
    from control.plane import ControlPlane
    from control.store.memory import MemoryStore
    from control.webhooks import WebhookDispatcher

    if store_kind == "redis":
        from control.store.redis import RedisStore

        store: Any = RedisStore(redis_url or "", prefix=f"bench{os.getpid()}:")
    else:
        store = MemoryStore(data_dir=None)
    plane = ControlPlane.build(
        store,
        secret="bench-secret-0123456789abcdef0123456789",
        public_url="http://127.0.0.1",
        clock=time.time,
        webhooks=WebhookDispatcher(store),
    )
    app = web.Application()
    app.cleanup_ctx.append(plane.lifecycle)
    setup_api(app, plane.consultations)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, backlog=1024).start()
    key = await create_key(store, "bench", None)
    now = time.time()
    room = await plane.consultations.create_room(
        Scope("bench"),
        {
            "kind": "walk_in",
            "practitioner": {"identity": "dr", "name": "Dr Bench"},
            "starts_at": now - 60,
            "ends_at": now + 6 * 3600,
        },
    )
    for i in range(WAITING_ENTRIES):
        await plane.consultations.join(room.id, Joiner(f"visitor-{i}", f"Visitor {i}", "client"), f"p{i}", "bench")
    print(json.dumps({"key": key, "room": room.id}), flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


# ---------------------------------------------------------------- load generator


async def one_connection(
    port: int, request: bytes, deadline: float, latencies: list[float], errors: list[int]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if length:
                await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if not head.startswith((b"HTTP/1.1 200", b"HTTP/1.1 201")):
                errors.append(int(head[9:12]))
    finally:
        writer.close()


async def load(port: int, request: bytes, connections: int, duration: float) -> dict[str, Any]:
    latencies: list[float] = []
    errors: list[int] = []
    started = time.perf_counter()
    deadline = started + duration
    await asyncio.gather(*(one_connection(port, request, deadline, latencies, errors) for _ in range(connections)))
    elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 if latencies else float("nan")

    return {
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "max_ms": latencies[-1] * 1000 if latencies else float("nan"),
        "errors": len(errors),
    }


def http_request(method: str, path: str, key: str, body: bytes = b"") -> bytes:
    lines = [
        f"{method} {path} HTTP/1.1",
        "Host: 127.0.0.1",
        f"Authorization: Bearer {key}",
        f"Content-Length: {len(body)}",
    ]
    if body:
        lines.append("Content-Type: application/json")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


# ---------------------------------------------------------------- orchestration


def process_cpu_s(pid: int) -> float:
    """user + system CPU seconds of a process (Linux /proc), robust to other load on the machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pin(cpu: int) -> list[str]:
    return ["taskset", "-c", str(cpu)] if shutil.which("taskset") and (os.cpu_count() or 1) > 1 else []


def start_redis(cpu: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [*pin(cpu), "redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            break
        except OSError:
            time.sleep(0.05)
    return proc, f"redis://127.0.0.1:{port}/0"


def run_case(store: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    redis_proc = None
    redis_url = None
    if store == "redis":
        redis_proc, redis_url = start_redis(args.client_cpu)
    port = free_port()
    cmd = [*pin(args.server_cpu), sys.executable, __file__, "--serve", store, "--port", str(port)]
    if redis_url:
        cmd += ["--redis-url", redis_url]
    server = subprocess.Popen(cmd, stdout=subprocess.PIPE, cwd=ROOT)
    try:
        assert server.stdout is not None
        setup = json.loads(server.stdout.readline())
        key, room = setup["key"], setup["room"]
        token_body = json.dumps({"identity": "client-1", "name": "Client One", "role": "client"}).encode()
        cases = {
            "token issue (POST /v1/rooms/{id}/tokens)": http_request("POST", f"/v1/rooms/{room}/tokens", key, token_body),
            f"waiting queue read, {WAITING_ENTRIES} entries (GET /v1/rooms/{{id}}/waiting)": http_request(
                "GET", f"/v1/rooms/{room}/waiting", key
            ),
        }
        results = []
        for name, request in cases.items():
            asyncio.run(load(port, request, args.connections, args.warmup))  # warm-up, not measured
            cpu_before = process_cpu_s(server.pid)
            result = asyncio.run(load(port, request, args.connections, args.duration))
            cpu_used = process_cpu_s(server.pid) - cpu_before
            cpu_ms = 1000 * cpu_used / max(1, result["requests"])
            result.update(
                store=store,
                case=name,
                connections=args.connections,
                duration_s=args.duration,
                server_cpu_ms_per_request=cpu_ms,
                server_cpu_share=cpu_used / args.duration,
                one_core_capacity_rps=1000 / cpu_ms if cpu_ms else float("nan"),
            )
            results.append(result)
            print(
                f"{store:6} {name:70} {result['rps']:8.0f} req/s  p50 {result['p50_ms']:6.2f} ms"
                f"  p99 {result['p99_ms']:6.2f} ms  errors {result['errors']}"
                f"  server CPU {cpu_ms:.3f} ms/req ({100 * result['server_cpu_share']:.0f}% of a core)"
                f" -> {result['one_core_capacity_rps']:.0f} req/s per core",
                flush=True,
            )
        return results
    finally:
        server.terminate()
        server.wait(timeout=10)
        if redis_proc is not None:
            redis_proc.terminate()
            redis_proc.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stores", default="memory,redis")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured per case")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--connections", type=int, default=32, help="concurrent keep-alive connections")
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--client-cpu", type=int, default=1)
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--redis-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        try:
            import uvloop

            uvloop.install()
        except ImportError:
            pass
        asyncio.run(serve(args.serve, args.port, args.redis_url))
        return
    if pin(args.client_cpu):
        os.sched_setaffinity(0, {args.client_cpu})
    results = []
    for store in args.stores.split(","):
        results += run_case(store.strip(), args)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
