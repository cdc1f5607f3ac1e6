"""Each subscriber gets the best picture its own link carries (issue 15), with real aiortc peers:
what the adaptation tests share, and the cases kept out of ``make test`` (``slow``).

The cases in ``make test`` run their constrained subscriber in a network namespace the test
makes: tests/sfu/test_adaptation_ns.py (a drop-tail queue: 300 and 100 kbit/s, an oscillating
link), tests/sfu/test_adaptation_policer.py (the kernel's nftables policer) and
tests/browser/test_link_adaptation.py (Chromium). The ``slow`` ones here put it behind a
userspace UDP relay on 127.0.0.1 (tests/support/rate_relay.py: a policer model, a publisher's
narrow uplink, adaptation switched off), another subscriber of the same camera unconstrained.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import aiortc.codecs.vpx
import av
import numpy as np
import pytest
from aiortc.codecs.opus import OpusEncoder

from sfu.packet.keyframe import is_keyframe
from tests.support.media import PatternVideoTrack, ToneAudioTrack
from tests.support.peer import Received, TestPeer
from tests.support.rate_limit import LimitMode, RateLimit
from tests.support.rate_relay import RateRelay
from tests.support.server import RunningServer, running_server

pytestmark = pytest.mark.serial


class CameraTrack(PatternVideoTrack):
    """The moving pattern with a band of faint noise: about 1 Mbit/s in VP8 at 640x480, like a
    webcam (the full-noise pattern makes several Mbit/s)."""

    def __init__(self) -> None:
        super().__init__(640, 480, 30)
        self._grain = np.random.default_rng(2)

    async def recv(self) -> av.VideoFrame:
        frame = await super().recv()
        img = frame.to_ndarray(format="rgb24")
        band = img[200:280].astype(np.int16) + self._grain.integers(-12, 12, (80, 640, 3), dtype=np.int16)
        img[200:280] = np.clip(band, 0, 255).astype(np.uint8)
        out = av.VideoFrame.from_ndarray(img, format="rgb24")
        out.pts, out.time_base = frame.pts, frame.time_base
        return out


class BrowserLikePeer(TestPeer):
    """A test peer whose video receiver repairs loss like a browser's (libwebrtc): it NACKs a
    missing packet again every 250 ms while it is missing (libwebrtc retries once per round
    trip), gives up on a hole older than ``GIVE_UP_S`` and decodes from the next complete
    keyframe after it, and asks for a keyframe when packets keep arriving but nothing decodes
    for a second.

    Why (the "~0 fps after a switch" behind 300 kbit/s): aiortc's receiver NACKs a lost packet
    only when a new gap appears, and its jitter buffer never skips a hole: one packet whose only
    NACK or resend was lost (the last ones of a congestion: no new gap after them) froze it
    until 512 packets later, 15-20 s at these rates, keyframes or not. (Answering such NACKs
    with header-only packets from the server was tried: aiortc then hands an empty frame to
    its decoder, which takes it as end of stream and fails every frame after.)"""

    GIVE_UP_S = 1.0
    _stuck_origin: tuple[int, float] | None = None
    holes_skipped = 0

    async def watch_decoding(self) -> None:
        last_frames, stuck_since = -1, 0.0
        while True:
            await asyncio.sleep(0.25)
            pc = self._subscribe_pc
            video = next((r for r in self.received.values() if r.kind == "video"), None)
            if pc is None or video is None:
                continue
            await self._nack_missing_again(pc)
            self._skip_old_hole(pc, time.monotonic())
            now = time.monotonic()
            if video.frames != last_frames:
                last_frames, stuck_since = video.frames, now
                continue
            if now - stuck_since < 1.0:
                continue
            stuck_since = now
            for transceiver in pc.getTransceivers():
                if transceiver.kind == "video":
                    stats = await transceiver.receiver.getStats()
                    for s in stats.values():
                        if s.type == "inbound-rtp" and s.packetsReceived:
                            await transceiver.receiver._send_rtcp_pli(s.ssrc)


    def _skip_old_hole(self, pc: Any, now: float) -> None:
        for transceiver in pc.getTransceivers():
            receiver = transceiver.receiver
            buffer = getattr(receiver, "_RTCRtpReceiver__jitter_buffer", None)
            if transceiver.kind != "video" or buffer is None or buffer._origin is None:
                continue
            origin = buffer._origin
            if self._stuck_origin is None or self._stuck_origin[0] != origin:
                self._stuck_origin = (origin, now)
                continue
            if now - self._stuck_origin[1] < self.GIVE_UP_S:
                continue
            for skip in range(1, buffer.capacity):
                packet = buffer._packets[(origin + skip) % buffer.capacity]
                if packet is not None and packet.payload and is_keyframe("vp8", packet.payload):
                    buffer.remove(skip)  # the keyframe is now the buffer's first packet
                    nacks = getattr(receiver, "_RTCRtpReceiver__nack_generator", None)
                    if nacks is not None:
                        nacks.missing = {seq for seq in nacks.missing if (seq - origin) % 65536 > skip}
                    self.holes_skipped += 1
                    self._stuck_origin = None
                    break

    @staticmethod
    async def _nack_missing_again(pc: Any) -> None:
        for transceiver in pc.getTransceivers():
            receiver = transceiver.receiver
            nacks = getattr(receiver, "_RTCRtpReceiver__nack_generator", None)
            if transceiver.kind != "video" or nacks is None or not nacks.missing:
                continue
            for s in (await receiver.getStats()).values():
                if s.type == "inbound-rtp" and s.packetsReceived:
                    await receiver._send_rtcp_nack(s.ssrc, sorted(nacks.missing))


@dataclass
class Call:
    pub: TestPeer
    free: TestPeer
    slow: BrowserLikePeer
    relay: RateRelay
    pid: str

    def video(self, peer: TestPeer) -> Received:
        rec = peer.receiving_from(self.pid, "video")
        assert rec is not None
        return rec

    def audio(self, peer: TestPeer) -> Received:
        rec = peer.receiving_from(self.pid, "audio")
        assert rec is not None
        return rec


async def publish_camera_and_voice(pub: TestPeer) -> str:
    """Connect ``pub`` and publish the test camera and a voice tone; returns its participant id."""
    await pub.connect()
    await pub.publish([(CameraTrack(), "camera"), (ToneAudioTrack(), "microphone")])
    assert pub.joined is not None
    return str(pub.joined["participant_id"])


async def wait_until(check: Callable[[], bool], timeout: float, what: str, diag: Callable[[], Any] = lambda: None) -> float:
    """Seconds it took; fails after ``timeout``."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not within {timeout} s: {what} ({diag()})")
        await asyncio.sleep(0.1)
    return time.monotonic() - start


def link_of(server: RunningServer, peer: TestPeer) -> dict[str, Any]:
    """The server's view of the peer's link, and its legs (for failure messages)."""
    assert peer.joined is not None
    for room in server.media.rooms.values():
        participant = room.participants.get(peer.joined["participant_id"])
        if participant is not None:
            counters = server.media.counters
            return {
                **participant.link.dump(time.monotonic()),
                "legs": [c.dump() for c in participant.consumers.values()],
                "plis_received": counters.plis_received,
                "nacks_received": counters.nacks_received,
                "frames_encoded": counters.frames_encoded,
            }
    return {}


def quality_messages(peer: TestPeer) -> list[dict[str, Any]]:
    return [m for m in peer.messages if m["type"] == "quality"]


@pytest.fixture(autouse=True)
def camera_at_900_kbps(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test publisher's VP8 at most 900 kbit/s: issue 15's camera (aiortc's encoder follows
    the server's REMB up to 1.5 Mbit/s). Only the publisher is capped: the server sets its
    rendition encoders' bitrate past aiortc's clamp (sfu/aiortc_hooks/frames.py). With 1.5
    Mbit/s the source needs 1.8 Mbit/s of estimate, and a link first cut down to 120x90 took
    15-18 s to climb back to it (three steps up, before padding probes; docs/architecture.md)."""
    monkeypatch.setattr(aiortc.codecs.vpx, "MAX_BITRATE", 900_000)


@pytest.fixture(autouse=True)
def voice_bitrate_opus(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test publisher's Opus at 32 kbit/s, a browser's voice rate (aiortc encodes 96 kbit/s,
    which would take a third of a 300 kbit/s link). Only the publisher encodes audio."""
    original = OpusEncoder.__init__

    def init(self: OpusEncoder) -> None:
        original(self)
        self.codec.bit_rate = 32000

    monkeypatch.setattr(OpusEncoder, "__init__", init)


@pytest.fixture
async def call_factory(server: RunningServer) -> AsyncIterator[Callable[[LimitMode], Any]]:
    made: list[Call] = []

    async def make(mode: LimitMode) -> Call:
        room = f"adapt-{mode}"
        pub = TestPeer(server.ws_url, server.token(room, "pub"), "pub")
        free = TestPeer(server.ws_url, server.token(room, "free"), "free")
        slow = BrowserLikePeer(server.ws_url, server.token(room, "slow"), "slow")
        relay = RateRelay(RateLimit(None, mode))
        await relay.start()
        slow.rewrite_subscribe_offer = relay.rewrite_offer
        slow.rewrite_subscribe_answer = relay.rewrite_answer
        call = Call(pub, free, slow, relay, "")
        made.append(call)
        call.pid = await publish_camera_and_voice(pub)
        for peer in (free, slow):
            await peer.connect()
        slow._spawn(slow.watch_decoding())
        for peer in (free, slow):
            await peer.wait_frames(call.pid, "video", 30, timeout=30)
            await peer.wait_frames(call.pid, "audio", 50, timeout=30)
        return call

    yield make
    for call in made:
        for peer in (call.pub, call.free, call.slow):
            await peer.close()
        call.relay.close()


def slow_video_leg_size(server: RunningServer, call: Call) -> tuple[int, int] | str | None:
    """What the server feeds the constrained subscriber's video leg: a rendition's size, "source"
    (the publisher's stream as is) or None (nothing: paused)."""
    assert call.slow.joined is not None
    for room in server.media.rooms.values():
        participant = room.participants.get(call.slow.joined["participant_id"])
        if participant is None:
            continue
        for consumer in participant.consumers.values():
            if consumer.kind == "video":
                source = consumer.current
                return None if source is None else getattr(source, "size", "source")
    return None


@pytest.mark.slow
async def test_a_policer_is_found_by_loss(server: RunningServer, call_factory: Callable[[LimitMode], Any]) -> None:
    call: Call = await call_factory("policer")
    call.relay.downlink.set_rate(300_000)
    # Loss alone (a policer adds no delay): a rendition within 6 s. Which one depends on the
    # loss the first steps see: 480x360 (281 kbit/s) with a few % of loss is held (libwebrtc's
    # rule: between 2 and 10 % neither up nor down), or a smaller one.
    took = await wait_until(
        lambda: isinstance(size := slow_video_leg_size(server, call), tuple) and size[1] <= 360,
        timeout=6,
        what="a smaller picture behind a 300 kbit/s policer",
        diag=lambda: (slow_video_leg_size(server, call), link_of(server, call.slow)),
    )
    print(f"policer 300 kbit/s: rendition after {took:.1f} s, link {link_of(server, call.slow)}")
    assert call.video(call.free).sizes[-1] == (640, 480)


@pytest.mark.slow
async def test_a_publisher_behind_a_narrow_uplink_is_told(server: RunningServer) -> None:
    # The publisher's publish connection goes through a relay whose peer-to-server direction is
    # a 150 kbit/s drop-tail queue: what the server receives (its REMB to the publisher, which
    # sees the queueing delay) stays below half of what a 640x480 picture needs (500 kbit/s at
    # our rendition rates). (A policer on the uplink is not seen: REMB only, see signalling.md.)
    relay = RateRelay(RateLimit(None), uplink=RateLimit(None, "queue"))
    await relay.start()
    pub = TestPeer(server.ws_url, server.token("adapt-uplink", "pub"), "pub")
    pub.rewrite_publish_offer = relay.for_server
    pub.rewrite_publish_answer = relay.for_peer
    try:
        await pub.connect()
        await pub.publish([(CameraTrack(), "camera")])
        await asyncio.sleep(4.0)  # the server's REMB starts after 3 s of throughput
        assert not [m for m in pub.messages if m["type"] == "quality"], "an unconstrained uplink is not reported"
        relay.uplink.set_rate(150_000)
        took = await wait_until(
            lambda: any(m["type"] == "quality" and m["direction"] == "send" for m in pub.messages),
            timeout=20,
            what="quality limited for the publisher",
        )
        quality = [m for m in pub.messages if m["type"] == "quality"][-1]
        print(f"uplink 150 kbit/s: told after {took:.1f} s: {quality}")
        assert quality["state"] == "limited"
        assert quality["limited"] == [p for p, info in pub.producers.items() if info["kind"] == "video"]
        relay.uplink.set_rate(None)
        took = await wait_until(
            lambda: [m for m in pub.messages if m["type"] == "quality"][-1]["state"] == "good",
            timeout=30,
            what="quality good again for the publisher",
        )
        print(f"uplink free: good again after {took:.1f} s")
    finally:
        await pub.close()
        relay.close()


def applied_choices(server: RunningServer, peer: TestPeer) -> dict[str, Any]:
    assert peer.joined is not None
    for room in server.media.rooms.values():
        participant = room.participants.get(peer.joined["participant_id"])
        if participant is not None:
            legs = participant.link.dump(time.monotonic())["legs"]
            assert isinstance(legs, dict)
            return legs
    return {}


@pytest.mark.slow
async def test_adaptation_off_leaves_the_choice_to_explicit_caps(tmp_path: Any) -> None:
    async with running_server(tmp_path, sfu__adaptation=False) as server:
        relay = RateRelay(RateLimit(None, "queue"))
        await relay.start()
        pub = TestPeer(server.ws_url, server.token("adapt-off", "pub"), "pub")
        slow = BrowserLikePeer(server.ws_url, server.token("adapt-off", "slow"), "slow")
        slow.rewrite_subscribe_offer = relay.for_peer
        slow.rewrite_subscribe_answer = relay.for_server
        call = Call(pub, slow, slow, relay, "")  # no unconstrained subscriber here
        try:
            call.pid = await publish_camera_and_voice(pub)
            await slow.connect()
            await slow.wait_frames(call.pid, "video", 30, timeout=30)
            relay.downlink.set_rate(300_000)
            await asyncio.sleep(8.0)
            assert slow_video_leg_size(server, call) == "source"
            assert not quality_messages(slow)
        finally:
            await pub.close()
            await slow.close()
            relay.close()


def link_adapter_of(server: RunningServer, peer: TestPeer) -> Any:
    assert peer.joined is not None
    for room in server.media.rooms.values():
        participant = room.participants.get(peer.joined["participant_id"])
        if participant is not None:
            return participant.link
    raise AssertionError("the peer is in no room")
