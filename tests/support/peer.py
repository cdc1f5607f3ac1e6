"""A real aiortc client that speaks the signalling protocol, for integration tests.

It does what a browser does: one WebSocket, a publish connection it offers, a
subscribe connection the server offers. Received video is decoded by aiortc, so
tests can look at real frames (sizes, pixels) and count them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import av
from aiortc import (
    RTCBundlePolicy,
    RTCConfiguration,
    RTCIceServer,
    RTCIceTransportPolicy,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack


@dataclass
class Received:
    """Frames received on one consumer m-line."""

    producer_id: str
    participant_id: str
    kind: str
    source: str
    frames: int = 0
    last_frame: Any = None
    sizes: list[tuple[int, int]] = field(default_factory=list)
    first_frame_at: float | None = None


def _same(sdp: str) -> str:
    return sdp


class TestPeer:
    __test__ = False  # not a pytest class

    def __init__(
        self, ws_url: str, token: str, name: str = "peer", *, ssl_context: ssl.SSLContext | None = None,
        use_ice_servers: bool = False, relay_only: bool = False,
    ) -> None:
        """``ssl_context``: trust for a wss:// URL; ``use_ice_servers``: the peer connections use
        ``joined.ice_servers`` (TURN); ``relay_only``: iceTransportPolicy relay."""
        self.ws_url = ws_url
        self.ssl_context = ssl_context
        self.use_ice_servers = use_ice_servers
        self.relay_only = relay_only
        self.token = token
        self.name = name
        self.messages: list[dict[str, Any]] = []
        self.joined: dict[str, Any] | None = None
        self.received: dict[str, Received] = {}
        self.producers: dict[str, dict[str, Any]] = {}
        self.errors: list[dict[str, Any]] = []
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._publish_pc: RTCPeerConnection | None = None
        self._subscribe_pc: RTCPeerConnection | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._waiters: list[tuple[Callable[[dict[str, Any]], bool], asyncio.Future[dict[str, Any]]]] = []
        self._mid_to_consumer: dict[str, dict[str, Any]] = {}
        self._published_mids: dict[str, str] = {}
        self._seq = 0
        #: rewrites the subscribe connection's SDPs: (sdp, from_server) -> sdp (e.g. to put
        #: a UDP relay in between, see tests/support/udp_relay.py)
        self.sdp_filter: Callable[[str, bool], str] | None = None
        #: the same per direction, for both connections (tests/support/rate_relay.py); applied
        #: after ``sdp_filter``
        self.rewrite_subscribe_offer: Callable[[str], str] = _same
        self.rewrite_subscribe_answer: Callable[[str], str] = _same
        self.rewrite_publish_offer: Callable[[str], str] = _same
        self.rewrite_publish_answer: Callable[[str], str] = _same

    # ------------------------------------------------------------ wire

    async def connect(self, join: bool = True) -> dict[str, Any]:
        self._session = aiohttp.ClientSession()
        self._ws = await self._session.ws_connect(self.ws_url, ssl=self.ssl_context if self.ssl_context is not None else True)
        self._spawn(self._read_loop())
        if not join:
            return {}
        reply = await self.request({"type": "join", "token": self.token}, expect=("joined", "error", "waiting", "access_refused"))
        if reply["type"] == "joined":
            self.joined = reply
        return reply

    async def send(self, msg: dict[str, Any]) -> None:
        assert self._ws is not None
        await self._ws.send_str(json.dumps({"v": 1, **msg}))

    async def send_raw(self, text: str) -> None:
        assert self._ws is not None
        await self._ws.send_str(text)

    async def request(self, msg: dict[str, Any], expect: tuple[str, ...], timeout: float = 10.0) -> dict[str, Any]:
        self._seq += 1
        ref = f"{self.name}-{self._seq}"
        fut = self.wait_for(lambda x: x.get("id") == ref and x["type"] in expect)
        await self.send({**msg, "id": ref})
        return await asyncio.wait_for(fut, timeout)

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool]) -> asyncio.Future[dict[str, Any]]:
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        for msg in self.messages:
            if predicate(msg):
                fut.set_result(msg)
                return fut
        self._waiters.append((predicate, fut))
        return fut

    async def next_message(self, type_name: str, timeout: float = 10.0, after: int = 0) -> dict[str, Any]:
        start = len(self.messages) if after < 0 else after
        for msg in self.messages[start:]:
            if msg["type"] == type_name:
                return msg
        return await asyncio.wait_for(self.wait_for_new(type_name), timeout)

    def wait_for_new(self, type_name: str) -> asyncio.Future[dict[str, Any]]:
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters.append((lambda x: x["type"] == type_name, fut))
        return fut

    async def _read_loop(self) -> None:
        assert self._ws is not None
        async for frame in self._ws:
            if frame.type != aiohttp.WSMsgType.TEXT:
                break
            msg = json.loads(frame.data)
            self.messages.append(msg)
            if msg["type"] == "error":
                self.errors.append(msg)
            for predicate, fut in list(self._waiters):
                if not fut.done() and predicate(msg):
                    fut.set_result(msg)
                    self._waiters.remove((predicate, fut))
            if msg["type"] == "subscribe_offer":
                self._spawn(self._answer_subscribe(msg))
            elif msg["type"] == "track_published":
                self.producers[msg["producer"]["producer_id"]] = msg["producer"]
            elif msg["type"] == "joined":
                for p in msg["producers"]:
                    self.producers[p["producer_id"]] = p

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _rtc_configuration(self) -> RTCConfiguration:
        servers: list[RTCIceServer] = []
        if self.use_ice_servers and self.joined is not None:
            for entry in self.joined["ice_servers"]:
                servers.append(RTCIceServer(entry["urls"], username=entry.get("username"), credential=entry.get("credential")))
        policy = RTCIceTransportPolicy.RELAY if self.relay_only else RTCIceTransportPolicy.ALL
        return RTCConfiguration(iceServers=servers, iceTransportPolicy=policy, bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)

    # ------------------------------------------------------------ publish

    async def publish(self, tracks: list[tuple[MediaStreamTrack, str]]) -> list[dict[str, Any]]:
        if self._publish_pc is None:
            self._publish_pc = RTCPeerConnection(self._rtc_configuration())
        pc = self._publish_pc
        transceivers = [(pc.addTransceiver(track, direction="sendonly"), source) for track, source in tracks]
        offer = await pc.createOffer()
        await pc.setLocalDescription(offer)
        described = [{"mid": t.mid, "source": source} for t, source in transceivers]
        reply = await self.request(
            {"type": "offer", "pc": "publish", "sdp": self.rewrite_publish_offer(pc.localDescription.sdp), "tracks": described},
            expect=("answer", "error"),
        )
        if reply["type"] == "error":
            raise RuntimeError(f"publish refused: {reply}")
        await pc.setRemoteDescription(RTCSessionDescription(sdp=self.rewrite_publish_answer(reply["sdp"]), type="answer"))
        published = await asyncio.wait_for(self.wait_for(lambda x: x["type"] == "published" and x.get("id") == reply["id"]), 10)
        for p in published["producers"]:
            self.producers[p["producer_id"]] = p
        return list(published["producers"])

    # ------------------------------------------------------------ subscribe

    async def _answer_subscribe(self, msg: dict[str, Any]) -> None:
        if self._subscribe_pc is None:
            self._subscribe_pc = RTCPeerConnection(self._rtc_configuration())
            self._subscribe_pc.on("track", self._on_track)
        pc = self._subscribe_pc
        for c in msg["consumers"]:
            self._mid_to_consumer[c["mid"]] = c
            # a recycled m-line may carry a new producer: re-key what we count
            for rec in list(self.received.values()):
                if rec.producer_id != c["producer_id"] and self._published_mids.get(c["mid"]) == rec.producer_id:
                    pass
        sdp_filter = self.sdp_filter or (lambda sdp, from_server: sdp)
        offer_sdp = self.rewrite_subscribe_offer(sdp_filter(msg["sdp"], True))
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        answer = await pc.createAnswer()
        await pc.setLocalDescription(answer)
        answer_sdp = self.rewrite_subscribe_answer(sdp_filter(pc.localDescription.sdp, False))
        await self.send({"type": "answer", "pc": "subscribe", "sdp": answer_sdp})

    def _on_track(self, track: MediaStreamTrack) -> None:
        assert self._subscribe_pc is not None
        mid = next(
            (t.mid for t in self._subscribe_pc.getTransceivers() if t.receiver.track is track),
            None,
        )
        self._spawn(self._consume(mid, track))

    async def _consume(self, mid: str | None, track: MediaStreamTrack) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            consumer = self._mid_to_consumer.get(mid or "")
            if consumer is None:
                continue
            rec = self.received.get(consumer["producer_id"])
            if rec is None:
                rec = self.received[consumer["producer_id"]] = Received(
                    consumer["producer_id"], consumer["participant_id"], consumer["kind"], consumer["source"]
                )
            rec.frames += 1
            rec.last_frame = frame
            if rec.first_frame_at is None:
                rec.first_frame_at = loop.time()
            if isinstance(frame, av.VideoFrame):
                size = (frame.width, frame.height)
                if not rec.sizes or rec.sizes[-1] != size:
                    rec.sizes.append(size)

    def receiving_from(self, participant_id: str, kind: str) -> Received | None:
        for rec in self.received.values():
            if rec.participant_id == participant_id and rec.kind == kind:
                return rec
        return None

    async def wait_frames(self, participant_id: str, kind: str, count: int, timeout: float = 15.0) -> Received:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            rec = self.receiving_from(participant_id, kind)
            if rec is not None and rec.frames >= count:
                return rec
            await asyncio.sleep(0.05)
        rec = self.receiving_from(participant_id, kind)
        raise AssertionError(f"{self.name}: {kind} from {participant_id}: {rec.frames if rec else 0} frames < {count}")

    # ------------------------------------------------------------ close

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            if self._ws is not None and not self._ws.closed:
                await self._ws.close()
        for pc in (self._publish_pc, self._subscribe_pc):
            if pc is not None:
                await pc.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._session is not None:
            await self._session.close()
