"""Adapter for Janus Gateway 1.1.2 (Debian package), VideoRoom plugin, in a network namespace.

``start()`` creates the namespace and veth pair (loadtest.netns), writes a config
folder (loadtest.janus_config) and runs ``ip netns exec NS [taskset -c CPU] janus -F DIR``.
Peers gather ICE on the tester's end of the veth pair and accept remote candidates only
inside the /30. Packets forwarded are counted at the subscribers (Janus has no counter
over its HTTP API without the admin interface, which stays off).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
from aiortc import RTCPeerConnection

from loadtest.janus_config import HTTP_PORT, write_config
from loadtest.netns import Netns
from loadtest.peer import (
    add_publish_tracks,
    add_remote_candidate,
    apply_remote,
    local_answer,
    local_offer,
    new_peer_connection,
)
from loadtest.procs import ManagedProcess
from loadtest.safety import LOOPBACK, Network
from loadtest.targets.base import Participant, PeerContext, PublisherRef, Target, TargetError
from loadtest.targets.janus_api import Event, JanusSession
from loadtest.targets.util import wait_http_ok
from loadtest.tracks import PacketAudioTrack, PacketVideoTrack

VIDEOROOM = "janus.plugin.videoroom"


class JanusTarget(Target):
    name = "janus"

    def __init__(self, run_dir: Path, cpu: int | None = None, *, subnet: str = "10.203.0.0/30") -> None:
        self.run_dir = run_dir
        self.cpu = cpu
        self.subnet = subnet
        self.netns: Netns | None = None
        self.process: ManagedProcess | None = None
        self.http: aiohttp.ClientSession | None = None
        self.admin: JanusSession | None = None
        self.admin_handle = 0
        self.room_ids: dict[str, int] = {}

    @property
    def networks(self) -> Sequence[Network]:
        nets: list[Network] = [LOOPBACK]
        if self.netns is not None:
            nets.append(self.netns.network)
        return nets

    @property
    def host_addresses(self) -> Sequence[str]:
        if self.netns is None:
            self.netns = Netns.for_this_process(self.subnet)  # picks the /30 now: peers gather on it
        return [self.netns.host_ip]

    @property
    def base_url(self) -> str:
        if self.netns is None:
            raise TargetError("janus target is not started")
        return f"http://{self.netns.ns_ip}:{HTTP_PORT}/janus"

    async def start(self) -> None:
        if self.netns is None:
            self.netns = Netns.for_this_process(self.subnet)
        await self.netns.create()
        conf = write_config(self.run_dir / "janus-conf", interface=self.netns.ns_if, address=self.netns.ns_ip)
        pin = ["taskset", "-c", str(self.cpu)] if self.cpu is not None else []
        self.process = ManagedProcess(
            [*self.netns.exec_prefix(), *pin, "janus", "-F", str(conf.parent), "-C", str(conf), "-o"],
            log_path=self.run_dir / "janus.log",
        )
        self.process.start()
        await wait_http_ok(f"{self.base_url}/info", self.process)
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20))
        self.admin = JanusSession(self.http, self.base_url)
        await self.admin.create()
        self.admin_handle = await self.admin.attach(VIDEOROOM)

    async def stop(self) -> None:
        if self.admin is not None:
            await self.admin.destroy()
            self.admin = None
        if self.http is not None:
            await self.http.close()
            self.http = None
        if self.process is not None:
            await self.process.stop()
        if self.netns is not None:
            await self.netns.destroy()

    def server_pid(self) -> int | None:
        return self.process.pid if self.process else None

    async def prepare_room(self, room: str, publishers: int) -> None:
        if self.admin is None:
            raise TargetError("janus target is not started")
        if room in self.room_ids:
            return
        room_id = 1000 + len(self.room_ids)
        reply = await self.admin.request(self.admin_handle, {
            "request": "create", "room": room_id, "publishers": max(2, publishers + 1),
            "videocodec": "vp8", "audiocodec": "opus", "notify_joining": False, "bitrate": 0,
        })
        data = reply.get("plugindata", {}).get("data", {})
        if data.get("videoroom") != "created":
            raise TargetError(f"janus: room {room} not created: {data}")
        self.room_ids[room] = room_id

    def participant(self, room: str, ctx: PeerContext) -> Participant:
        if self.http is None or room not in self.room_ids:
            raise TargetError(f"janus: room {room} is not prepared")
        return JanusParticipant(JanusSession(self.http, self.base_url, ctx.timeout_s), self.room_ids[room], ctx)


class JanusParticipant(Participant):
    def __init__(self, session: JanusSession, room_id: int, ctx: PeerContext) -> None:
        self.session = session
        self.room_id = room_id
        self.ctx = ctx
        self.pcs: list[RTCPeerConnection] = []
        self.tasks: set[asyncio.Task[bool]] = set()  # trickled candidates being added
        self.closed = False

    async def join(self) -> None:
        await self.session.create()

    def _events_for(self, pc: RTCPeerConnection, up: asyncio.Event | None = None) -> Any:
        """Handle events: trickled candidates go to ``pc``; ``webrtcup`` sets ``up``."""

        def on_event(event: Event) -> None:
            if event.get("janus") == "webrtcup" and up is not None:
                up.set()
            if event.get("janus") != "trickle":
                return
            candidate = event.get("candidate") or {}
            line = candidate.get("candidate")
            if isinstance(line, str):
                task = asyncio.get_running_loop().create_task(add_remote_candidate(
                    pc, line, candidate.get("sdpMid"), candidate.get("sdpMLineIndex"), self.ctx.networks))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)

        return on_event

    async def publish(self, video: PacketVideoTrack, audio: PacketAudioTrack | None) -> PublisherRef:
        pc = new_peer_connection()
        self.pcs.append(pc)
        up = asyncio.Event()
        handle = await self.session.attach(VIDEOROOM, self._events_for(pc, up))
        joined = await self.session.request(handle, {
            "request": "join", "ptype": "publisher", "room": self.room_id, "display": self.ctx.identity})
        feed = joined["plugindata"]["data"]["id"]
        add_publish_tracks(pc, video, audio)
        offer = {"type": "offer", "sdp": await local_offer(pc), "trickle": False}
        reply = await self.session.request(
            handle, {"request": "publish", "audio": audio is not None, "video": True}, offer)
        jsep = reply.get("jsep")
        if not jsep or jsep.get("type") != "answer":
            raise TargetError(f"janus: publish without an answer: {reply.get('plugindata')}")
        await apply_remote(pc, jsep["sdp"], "answer", self.ctx.networks)
        # VideoRoom refuses subscriptions to a feed until its PeerConnection is up
        await asyncio.wait_for(up.wait(), self.ctx.timeout_s)
        return PublisherRef(self.ctx.identity, str(feed))

    async def subscribe(self, publishers: Sequence[PublisherRef]) -> None:
        if not publishers:
            return
        pc = new_peer_connection()
        self.pcs.append(pc)
        handle = await self.session.attach(VIDEOROOM, self._events_for(pc))
        by_feed = {int(p.server_id): p.identity for p in publishers}
        reply = await self.session.request(handle, {
            "request": "join", "ptype": "subscriber", "room": self.room_id,
            "streams": [{"feed": feed} for feed in by_feed]})
        jsep = reply.get("jsep")
        if not jsep or jsep.get("type") != "offer":
            raise TargetError(f"janus: subscribe without an offer: {reply.get('plugindata')}")
        streams = reply["plugindata"]["data"].get("streams", [])
        await apply_remote(pc, jsep["sdp"], "offer", self.ctx.networks)
        mids = {str(s.get("mid")): s for s in streams}
        for transceiver in pc.getTransceivers():
            stream = mids.get(str(transceiver.mid))
            if stream is None or stream.get("type") not in ("audio", "video"):
                continue
            identity = by_feed.get(int(stream.get("feed_id", 0)), str(stream.get("feed_id")))
            self.ctx.on_receiver(transceiver.receiver, identity, stream["type"])
        answer = {"type": "answer", "sdp": await local_answer(pc), "trickle": False}
        await self.session.request(handle, {"request": "start"}, answer)

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        await self.session.destroy()
        for task in list(self.tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for pc in self.pcs:
            await pc.close()
