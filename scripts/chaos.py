"""Chaos run: peers killed and WebSockets dropped during calls; nothing may stay behind.

A real server process (``python -m control.cli serve --workers 1``, loopback only, a short
reconnect grace) and real aiortc peers, each in its own process (publishing a test pattern
and a tone, subscribing to everyone else in its room). For ``--rounds`` rounds: top every
room up to ``--peers`` peers, let the calls run a moment, then hit one or two peers, chosen
at random (seeded), with one of:

* ``kill``: SIGKILL the peer process: its WebSocket, ICE and DTLS vanish without a word;
* ``drop``: the peer shuts its WebSocket's socket down with no close frame (a lost network
  as the server sees it) while its media connections stay up; the process is killed a
  moment later.

At the end every peer is killed, and the run checks that the server's /metrics gauges of
live things (rooms, participants, producers, consumers, renditions, decoders, ...) are back
to 0, and that the server process's open file descriptors and resident memory are flat:
sampled after the first round, half way and at the end: descriptors may not grow by more
than ``--fd-slack`` from the first sample, memory by more than ``--rss-slack-mb`` MB in the
second half (the first rounds warm up).

    PYTHONPATH=. .venv/bin/python scripts/chaos.py [--rounds 12] [--rooms 2] [--peers 3] [--seed 13]

Prints a JSON summary; exit status 0 when every check passed, 1 otherwise. Bounded:
``--rounds`` x (peers joining + ~2 s), every peer process killed at the end, the server
stopped (SIGTERM, then SIGKILL). Runs as a ``slow`` test (tests/sfu/test_chaos.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

SCRIPT = Path(__file__).resolve()
ROOT = SCRIPT.parents[1]
SECRET = "chaos-secret-not-for-production-0123456789"
#: gauges that count configuration or health, not live objects (not expected back to 0)
NOT_LIVE = {"captions_available", "effects_available", "cluster_store_ok"}
READY = "ready"


# ---------------------------------------------------------------- the peer process


async def run_peer(url: str, token: str, name: str) -> None:
    """Join, publish video and audio, subscribe; on SIGUSR1 drop the WebSocket; until killed."""
    sys.path.insert(0, str(ROOT))
    from sfu.aiortc_hooks import configure_host_addresses
    from tests.support.media import PatternVideoTrack, ToneAudioTrack
    from tests.support.peer import TestPeer

    configure_host_addresses(["127.0.0.1"])  # our ICE candidates on loopback only

    peer = TestPeer(url, token, name)
    loop = asyncio.get_running_loop()

    def drop_websocket() -> None:
        ws = peer._ws
        sock = ws.get_extra_info("socket") if ws is not None else None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # no close frame: the connection is just gone

    loop.add_signal_handler(signal.SIGUSR1, drop_websocket)
    reply = await peer.connect()
    if reply.get("type") != "joined":
        raise SystemExit(f"{name}: not joined: {reply}")
    await peer.publish([(PatternVideoTrack(160, 120, 15), "camera"), (ToneAudioTrack(), "microphone")])
    print(READY, flush=True)
    await asyncio.Event().wait()


# ---------------------------------------------------------------- the controller


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(port: int) -> tuple[dict[str, float], set[str]]:
    """/metrics: values by name, and the names declared as gauges."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    values: dict[str, float] = {}
    gauges: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# TYPE ") and line.endswith(" gauge"):
            gauges.add(line.split()[2])
        elif line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values, gauges


def live_gauges(port: int) -> dict[str, float]:
    values, gauges = scrape(port)
    return {
        name: value
        for name, value in values.items()
        if name.split("{")[0] in gauges and name.split("{")[0].removeprefix("consult_sfu_") not in NOT_LIVE
    }


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


@dataclass
class Peer:
    proc: subprocess.Popen[str]
    room: str
    name: str


@dataclass
class ChaosResult:
    rounds: int = 0
    kills: int = 0
    drops: int = 0
    joins: int = 0
    failed_joins: int = 0
    gauges_at_end: dict[str, float] = field(default_factory=dict)
    #: the most of each live gauge seen during the calls (the checks saw something to undo)
    peak_gauges: dict[str, float] = field(default_factory=dict)
    zero_after_s: list[float] = field(default_factory=list)
    fds: list[int] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    server_errors: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


class Chaos:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.rng = random.Random(args.seed)
        self.port = free_port()
        self.server: subprocess.Popen[bytes] | None = None
        self.peers: list[Peer] = []
        self.result = ChaosResult()
        self._names = 0
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CONSULT_SFU_")}
        self.env["PYTHONPATH"] = str(ROOT) + os.pathsep + self.env.get("PYTHONPATH", "")

    # -------------------------------------------------------- server

    def start_server(self) -> None:
        env = dict(
            self.env,
            CONSULT_SFU_SECRET=SECRET,
            CONSULT_SFU_ICE_HOST_ADDRESSES="127.0.0.1",
            CONSULT_SFU_DATA_DIR=str(self.workdir / "data"),
            CONSULT_SFU_CAPTIONS_START_WORKERS="first_use",
            CONSULT_SFU_SESSION_RECONNECT_GRACE_S=str(self.args.grace),
        )
        self.log = self.workdir / "server.log"
        with open(self.log, "wb") as out:
            self.server = subprocess.Popen(
                [sys.executable, "-m", "control.cli", "serve", "--workers", "1",
                 "--host", "127.0.0.1", "--port", str(self.port)],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.server.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-2000:]}")
            with contextlib.suppress(OSError):
                scrape(self.port)
                return
            time.sleep(0.2)
        raise RuntimeError("server did not answer /metrics in 60 s")

    def stop_server(self) -> None:
        if self.server is None:
            return
        self.server.terminate()
        try:
            self.server.wait(15)
        except subprocess.TimeoutExpired:
            self.server.kill()
            self.server.wait(5)

    # -------------------------------------------------------- peers

    def token(self, room: str, identity: str) -> str:
        sys.path.insert(0, str(ROOT))
        from control.tokens import mint

        return mint(SECRET, room=room, identity=identity, role="client", name=identity)

    async def spawn(self, room: str) -> None:
        self._names += 1
        name = f"p{self._names}"
        proc = await asyncio.to_thread(
            subprocess.Popen,
            [sys.executable, str(SCRIPT), "peer",
             "--url", f"ws://127.0.0.1:{self.port}/ws", "--token", self.token(room, name), "--name", name],
            cwd=ROOT, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        self.peers.append(Peer(proc, room, name))
        self.result.joins += 1

    async def wait_ready(self, peers: list[Peer], timeout: float = 30.0) -> None:
        async def one(peer: Peer) -> None:
            assert peer.proc.stdout is not None
            line = await asyncio.wait_for(asyncio.to_thread(peer.proc.stdout.readline), timeout)
            if line.strip() != READY:
                raise RuntimeError(f"{peer.name} exited before joining")

        for peer, outcome in zip(peers, await asyncio.gather(*(one(p) for p in peers), return_exceptions=True), strict=True):
            if isinstance(outcome, BaseException):
                self.result.failed_joins += 1
                self.kill(peer)

    def kill(self, peer: Peer) -> None:
        with contextlib.suppress(ProcessLookupError):
            peer.proc.kill()
        peer.proc.wait(10)
        if peer.proc.stdout is not None:
            peer.proc.stdout.close()
        if peer in self.peers:
            self.peers.remove(peer)

    async def hit(self) -> None:
        for peer in self.rng.sample(self.peers, min(len(self.peers), self.rng.choice((1, 2)))):
            if self.rng.random() < 0.5:
                self.result.kills += 1
                self.kill(peer)
            else:
                self.result.drops += 1
                peer.proc.send_signal(signal.SIGUSR1)
                await asyncio.sleep(self.rng.uniform(0.2, 1.0))  # media flows on without signalling
                self.kill(peer)

    # -------------------------------------------------------- the run

    async def wait_for_zero(self, timeout: float) -> dict[str, float]:
        start = time.monotonic()
        gauges = live_gauges(self.port)
        while time.monotonic() - start < timeout:
            gauges = live_gauges(self.port)
            if not any(gauges.values()):
                self.result.zero_after_s.append(round(time.monotonic() - start, 2))
                return gauges
            await asyncio.sleep(0.1)
        return gauges

    def sample_process(self) -> None:
        assert self.server is not None
        self.result.fds.append(open_fds(self.server.pid))
        self.result.rss_mb.append(round(rss_mb(self.server.pid), 1))

    async def run(self) -> ChaosResult:
        args = self.args
        rooms = [f"chaos-{i}" for i in range(args.rooms)]
        self.start_server()
        try:
            for round_no in range(args.rounds):
                new: list[Peer] = []
                for room in rooms:
                    while sum(p.room == room for p in self.peers) < args.peers:
                        await self.spawn(room)
                        new.append(self.peers[-1])
                await self.wait_ready(new)
                await asyncio.sleep(self.rng.uniform(1.0, 2.5))  # calls running
                for name, value in live_gauges(self.port).items():
                    self.result.peak_gauges[name] = max(value, self.result.peak_gauges.get(name, 0.0))
                await self.hit()
                self.result.rounds += 1
                if round_no in (0, args.rounds // 2, args.rounds - 1):
                    # after the first round (the baseline), half way and at the end: all
                    # peers gone, gauges at 0, descriptors and memory sampled
                    for peer in list(self.peers):
                        self.kill(peer)
                    gauges = await self.wait_for_zero(args.grace + 20)
                    if any(gauges.values()):
                        self.result.problems.append(f"round {round_no}: gauges not back to 0: {gauges}")
                    await asyncio.sleep(1.0)  # closed transports finish their last callbacks
                    self.sample_process()
            self.result.gauges_at_end = live_gauges(self.port)
        finally:
            for peer in list(self.peers):
                self.kill(peer)
            self.stop_server()
        self.check()
        return self.result

    def check(self) -> None:
        r = self.result
        if r.fds and r.fds[-1] > r.fds[0] + self.args.fd_slack:
            r.problems.append(f"open file descriptors grew: {r.fds}")
        # Memory: the first rounds warm up (allocator arenas, codec contexts, caches of
        # imports done on first use): +20 MB in a 30-round run, nearly all before half way.
        # A leak grows on: the second half is compared.
        if len(r.rss_mb) == 3 and r.rss_mb[2] > r.rss_mb[1] + self.args.rss_slack_mb:
            r.problems.append(f"resident memory grew in the second half: {r.rss_mb} MB")
        if not r.peak_gauges.get("consult_sfu_consumers"):
            r.problems.append("no subscriber leg was ever seen: the calls did not run")
        if r.failed_joins > r.joins // 10:
            r.problems.append(f"{r.failed_joins} of {r.joins} peers failed to join")
        log = self.log.read_text(errors="replace") if self.log.exists() else ""
        r.server_errors = [line for line in log.splitlines() if "Traceback" in line or " ERROR " in line][:10]
        if r.server_errors:
            r.problems.append("errors in the server log")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    peer = sub.add_parser("peer", help="(internal) one peer process")
    peer.add_argument("--url", required=True)
    peer.add_argument("--token", required=True)
    peer.add_argument("--name", required=True)
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--rooms", type=int, default=2)
    parser.add_argument("--peers", type=int, default=3, help="peers per room")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--grace", type=float, default=1.0, help="session.reconnect_grace_s of the server")
    parser.add_argument("--fd-slack", type=int, default=8)
    parser.add_argument("--rss-slack-mb", type=float, default=15.0)
    args = parser.parse_args(argv)
    if args.command == "peer":
        if not args.url.startswith("ws://127.0.0.1:"):
            parser.error("peers talk to 127.0.0.1 only")
        asyncio.run(run_peer(args.url, args.token, args.name))
        return 0
    if not (2 <= args.rounds <= 200 and 1 <= args.rooms <= 5 and 2 <= args.peers <= 6):
        parser.error("--rounds in [2, 200], --rooms in [1, 5], --peers in [2, 6]")
    with tempfile.TemporaryDirectory(prefix="chaos-") as tmp:
        result = asyncio.run(Chaos(args, Path(tmp)).run())
    print(json.dumps(result.__dict__, indent=2))
    return 1 if result.problems else 0


if __name__ == "__main__":
    sys.exit(main())
