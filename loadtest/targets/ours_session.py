"""One tester participant on consult-sfu: a WebSocket, a publish and a subscribe connection.

Messages are encoded and decoded with ``signalling.codec`` (the documented protocol).
The server offers the subscribe connection by itself whenever a producer appears;
``subscribe()`` only waits until the wanted publishers' video is on it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

import aiohttp
from aiortc import RTCPeerConnection

import signalling.messages as m
import signalling.messages_waiting  # noqa: F401 - registers the waiting-room messages for decoding
from loadtest.peer import (
    add_publish_tracks,
    add_remote_candidate,
    apply_remote,
    local_answer,
    local_offer,
    new_peer_connection,
)
from loadtest.targets.base import Participant, PeerContext, PublisherRef, TargetError
from loadtest.tracks import PacketAudioTrack, PacketVideoTrack
from signalling.codec import Message, ProtocolError, decode_server_message, encode

INBOX_LIMIT = 256


class OursParticipant(Participant):
    def __init__(self, ws_url: str, token: str, ctx: PeerContext) -> None:
        self.ws_url = ws_url
        self.token = token
        self.ctx = ctx
        self.participant_id = ""
        self.identities: dict[str, str] = {}  # participant id -> identity
        self.reported: dict[str, str] = {}  # subscribe mid -> producer id already given a probe
        self.receiving: set[str] = set()  # participant ids whose video is on the subscribe connection
        self.http: aiohttp.ClientSession | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.reader: asyncio.Task[None] | None = None
        self.publish_pc: RTCPeerConnection | None = None
        self.subscribe_pc: RTCPeerConnection | None = None
        self.replies: dict[str, list[Message]] = {}
        self.changed = asyncio.Condition()
        self.offers: asyncio.Queue[m.SubscribeOffer] = asyncio.Queue(maxsize=INBOX_LIMIT)
        self.answering: asyncio.Task[None] | None = None
        self.failure: str | None = None
        self.seq = 0
        self.closed = False

    # ------------------------------------------------------------ wire

    async def send(self, msg: Message) -> str:
        if self.ws is None or self.ws.closed:
            raise TargetError(f"{self.ctx.identity}: signalling connection is closed")
        self.seq += 1
        msg.id = msg.id or f"{self.ctx.identity}-{self.seq}"
        await self.ws.send_str(encode(msg))
        return msg.id

    async def wait_reply(self, ref: str, type_name: str) -> Message:
        async def found() -> Message:
            async with self.changed:
                while True:
                    for msg in self.replies.get(ref, []):
                        if isinstance(msg, m.Error):
                            raise TargetError(f"{self.ctx.identity}: server error {msg.code}: {msg.message}")
                        if msg.type == "access_refused":  # a refused join: its one message (then close 4403)
                            raise TargetError(f"{self.ctx.identity}: join refused: {getattr(msg, 'reason', '?')}")
                        if msg.type == type_name:
                            return msg
                    if self.failure is not None:
                        raise TargetError(self.failure)
                    await self.changed.wait()

        return await asyncio.wait_for(found(), self.ctx.timeout_s)

    async def _read(self) -> None:
        assert self.ws is not None
        try:
            async for frame in self.ws:
                if frame.type != aiohttp.WSMsgType.TEXT:
                    break
                try:
                    msg = decode_server_message(frame.data)
                except ProtocolError:
                    continue  # a feature message this tester does not know
                await self._dispatch(msg)
        finally:
            async with self.changed:
                self.failure = self.failure or f"{self.ctx.identity}: signalling connection closed"
                self.changed.notify_all()

    async def _dispatch(self, msg: Message) -> None:
        if isinstance(msg, m.SubscribeOffer):
            self.offers.put_nowait(msg)
        elif isinstance(msg, m.Candidate) and msg.candidate is not None:
            pc = self.publish_pc if msg.pc == "publish" else self.subscribe_pc
            if pc is not None:
                c = msg.candidate
                await add_remote_candidate(pc, c.candidate, c.sdpMid, c.sdpMLineIndex, self.ctx.networks)
        elif isinstance(msg, m.Joined):
            self.identities.update({p.participant_id: p.identity for p in msg.participants})
        elif isinstance(msg, m.ParticipantJoined):
            self.identities[msg.participant.participant_id] = msg.participant.identity
        elif isinstance(msg, m.Bye):
            self.failure = f"{self.ctx.identity}: server said bye ({msg.reason})"
        async with self.changed:
            if msg.id is not None:
                self.replies.setdefault(msg.id, []).append(msg)
            self.changed.notify_all()

    # ------------------------------------------------------------ the participant

    async def join(self) -> None:
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.ctx.timeout_s))
        self.ws = await self.http.ws_connect(self.ws_url, heartbeat=20.0)
        self.reader = asyncio.create_task(self._read())
        self.answering = asyncio.create_task(self._answer_offers())
        ref = await self.send(m.Join(token=self.token))
        joined = await self.wait_reply(ref, "joined")
        assert isinstance(joined, m.Joined)
        self.participant_id = joined.participant_id

    async def publish(self, video: PacketVideoTrack, audio: PacketAudioTrack | None) -> PublisherRef:
        self.publish_pc = pc = new_peer_connection()
        senders = add_publish_tracks(pc, video, audio)
        sdp = await local_offer(pc)
        mids = {kind: t.mid for t in pc.getTransceivers() for kind, s in senders if t.sender is s}
        tracks = [m.TrackInfo(mid=str(mids["video"]), source="camera")]
        if "audio" in mids:
            tracks.append(m.TrackInfo(mid=str(mids["audio"]), source="microphone"))
        ref = await self.send(m.Offer(pc="publish", sdp=sdp, tracks=tracks))
        answer = await self.wait_reply(ref, "answer")
        assert isinstance(answer, m.Answer)
        await apply_remote(pc, answer.sdp, "answer", self.ctx.networks)
        await self.wait_reply(ref, "published")
        return PublisherRef(self.ctx.identity, self.participant_id)

    async def _answer_offers(self) -> None:
        while True:
            offer = await self.offers.get()
            try:
                await self._answer(offer)
            except Exception as exc:
                async with self.changed:
                    self.failure = f"{self.ctx.identity}: subscribe offer failed: {type(exc).__name__}: {exc}"
                    self.changed.notify_all()
                return

    async def _answer(self, offer: m.SubscribeOffer) -> None:
        if self.subscribe_pc is None:
            self.subscribe_pc = new_peer_connection()
        pc = self.subscribe_pc
        await apply_remote(pc, offer.sdp, "offer", self.ctx.networks)
        consumers = {c.mid: c for c in offer.consumers}
        for transceiver in pc.getTransceivers():
            consumer = consumers.get(transceiver.mid or "")
            if consumer is None or self.reported.get(consumer.mid) == consumer.producer_id:
                continue
            self.reported[consumer.mid] = consumer.producer_id
            identity = self.identities.get(consumer.participant_id, consumer.participant_id)
            self.ctx.on_receiver(transceiver.receiver, identity, consumer.kind)
            if consumer.kind == "video":
                self.receiving.add(consumer.participant_id)
        await self.send(m.Answer(pc="subscribe", sdp=await local_answer(pc)))
        async with self.changed:
            self.changed.notify_all()

    async def subscribe(self, publishers: Sequence[PublisherRef]) -> None:
        wanted = {p.server_id for p in publishers}  # the publishers' participant ids
        async with self.changed:
            while not wanted <= self.receiving:
                if self.failure is not None:
                    raise TargetError(self.failure)
                await self.changed.wait()

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.ws is not None and not self.ws.closed:
            with contextlib.suppress(Exception):
                await self.send(m.Leave())
            await self.ws.close()
        for task in (self.reader, self.answering):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        for pc in (self.publish_pc, self.subscribe_pc):
            if pc is not None:
                await pc.close()
        if self.http is not None:
            await self.http.close()
