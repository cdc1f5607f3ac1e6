"""Adapter for the MediaRelay baseline (loadtest/mediarelay_server.py, started as a subprocess)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
from aiortc import RTCPeerConnection

from loadtest.peer import add_publish_tracks, apply_remote, local_offer, new_peer_connection
from loadtest.procs import ManagedProcess
from loadtest.safety import LOOPBACK, Network
from loadtest.targets.base import Participant, PeerContext, PublisherRef, Target, TargetError
from loadtest.targets.util import free_port, wait_http_ok
from loadtest.tracks import PacketAudioTrack, PacketVideoTrack


class MediaRelayTarget(Target):
    name = "mediarelay"
    forwards_payload = False  # decodes and re-encodes: the frame trailer does not survive

    def __init__(self, run_dir: Path, cpu: int | None = None) -> None:
        self.run_dir = run_dir
        self.cpu = cpu
        self.port = 0
        self.process: ManagedProcess | None = None
        self.http: aiohttp.ClientSession | None = None

    @property
    def networks(self) -> Sequence[Network]:
        return [LOOPBACK]

    @property
    def host_addresses(self) -> Sequence[str]:
        return ["127.0.0.1"]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.port = free_port()
        self.process = ManagedProcess(
            [sys.executable, "-m", "loadtest.mediarelay_server", "--port", str(self.port)],
            log_path=self.run_dir / "mediarelay.log", cpu=self.cpu,
        )
        self.process.start()
        await wait_http_ok(f"{self.base_url}/healthz", self.process)
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))

    async def stop(self) -> None:
        if self.http is not None:
            await self.http.close()
            self.http = None
        if self.process is not None:
            await self.process.stop()

    def server_pid(self) -> int | None:
        return self.process.pid if self.process else None

    async def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        if self.http is None:
            raise TargetError("mediarelay target is not started")
        async with self.http.post(self.base_url + path, json=body) as resp:
            if resp.status != 200:
                raise TargetError(f"mediarelay {path}: HTTP {resp.status}: {await resp.text()}")
            reply: dict[str, Any] = await resp.json()
            return reply

    def participant(self, room: str, ctx: PeerContext) -> Participant:
        return MediaRelayParticipant(self, room, ctx)


class MediaRelayParticipant(Participant):
    def __init__(self, target: MediaRelayTarget, room: str, ctx: PeerContext) -> None:
        self.target = target
        self.room = room
        self.ctx = ctx
        self.pcs: list[tuple[str, RTCPeerConnection]] = []
        self.closed = False

    async def join(self) -> None:
        """No signalling session in this protocol: joining is a no-op."""

    async def publish(self, video: PacketVideoTrack, audio: PacketAudioTrack | None) -> PublisherRef:
        pc = new_peer_connection()
        add_publish_tracks(pc, video, audio)
        reply = await self.target.post(f"/rooms/{self.room}/publish", {"sdp": await local_offer(pc)})
        self.pcs.append((reply["peer_id"], pc))
        await apply_remote(pc, reply["sdp"], "answer", self.ctx.networks)
        return PublisherRef(self.ctx.identity, reply["peer_id"])

    async def subscribe(self, publishers: Sequence[PublisherRef]) -> None:
        if not publishers:
            return
        pc = new_peer_connection()
        for publisher in publishers:
            for kind in ("video", "audio"):
                transceiver = pc.addTransceiver(kind, direction="recvonly")
                self.ctx.on_receiver(transceiver.receiver, publisher.identity, kind)
        body = {"publishers": [p.server_id for p in publishers], "sdp": await local_offer(pc)}
        reply = await self.target.post(f"/rooms/{self.room}/subscribe", body)
        self.pcs.append((reply["peer_id"], pc))
        await apply_remote(pc, reply["sdp"], "answer", self.ctx.networks)

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for peer_id, pc in self.pcs:
            try:
                await self.target.post(f"/peers/{peer_id}/close", {})
            except (TargetError, aiohttp.ClientError, OSError):
                pass  # the server may already be gone; our side still closes
            await pc.close()
