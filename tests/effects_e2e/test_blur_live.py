"""Blur end to end: a publisher films a photograph, two aiortc subscribers decode the result.

Through the real server (control app, signalling, sfu rendition pipeline, effects):
blur on -> both subscribers' frames show a blurred background while the person matches;
the publisher's own self view comes from the server, processed; a 320x180 cap on one
subscriber shares the one decode and the one effect (two encoders); blur off -> back to
passthrough, the decoder stops and the decode/encode counters stand still.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.effects_e2e.conftest import (
    FACE,
    FLAG,
    PhotoVideoTrack,
    box,
    frame_bgr,
    laplacian_variance,
)
from tests.support.peer import Received, TestPeer
from tests.support.server import running_server
from tests.support.waiting import until


def flag_energy(peer: TestPeer, participant_id: str) -> float:
    rec = peer.receiving_from(participant_id, "video")
    if rec is None or rec.last_frame is None:
        return float("inf")
    return laplacian_variance(box(frame_bgr(rec.last_frame), FLAG))


def received(peer: TestPeer, participant_id: str) -> Received:
    rec = peer.receiving_from(participant_id, "video")
    assert rec is not None, f"{peer.name} receives no video from {participant_id}"
    return rec


def face_error(peer: TestPeer, participant_id: str, camera: PhotoVideoTrack) -> float:
    """Mean absolute error of the face against the photograph at the nearest pan position."""
    rec = peer.receiving_from(participant_id, "video")
    assert rec is not None and rec.last_frame is not None
    shown = box(frame_bgr(rec.last_frame), FACE).astype(np.int16)
    errors = []
    for picture in camera.at_offsets():
        if picture.shape[:2] != (rec.last_frame.height, rec.last_frame.width):
            picture = cv2.resize(picture, (rec.last_frame.width, rec.last_frame.height), interpolation=cv2.INTER_AREA)
        expected = box(picture, FACE).astype(np.int16)
        errors.append(float(np.abs(shown - expected).mean()))
    return min(errors)


@pytest.mark.long
async def test_blur_reaches_every_subscriber_combines_with_a_cap_and_switches_off(tmp_path: Path) -> None:
    async with running_server(tmp_path) as server:
        camera = PhotoVideoTrack(640, 480, fps=15)
        pub = TestPeer(server.ws_url, server.token("fx", "pub", name="Publisher"), "pub")
        subs = [TestPeer(server.ws_url, server.token("fx", f"s{i}"), f"s{i}") for i in range(2)]
        try:
            await pub.connect()
            video = (await pub.publish([(camera, "camera")]))[0]
            assert pub.joined is not None
            pid, producer_id = pub.joined["participant_id"], video["producer_id"]
            for s in subs:
                await s.connect()
                await s.wait_frames(pid, "video", 10, timeout=30)
            media = server.media
            assert media.gauges()["decoders"] == 0, "passthrough: nothing decoded"
            reference = camera.reference()
            sharp = [flag_energy(s, pid) for s in subs]
            assert all(e > 100 for e in sharp), sharp  # the flag's stars are fine detail
            assert all(face_error(s, pid, camera) < 8.0 for s in subs)

            # --- blur on
            reply = await pub.request({"type": "set_effect", "kind": "blur", "strength": "strong"}, expect=("effect_state", "error"))
            assert reply["type"] == "effect_state", reply
            assert (reply["participant_id"], reply["producer_id"], reply["kind"], reply["strength"]) == (pid, producer_id, "blur", "strong")
            for s in subs:
                state = await s.next_message("effect_state")
                assert state["participant_id"] == pid and state["kind"] == "blur"
            for s in subs:
                await until(lambda s=s: flag_energy(s, pid) < 0.15 * sharp[0], timeout=20, what=f"{s.name} sees the blurred flag")  # type: ignore[misc]
            await asyncio.sleep(1.0)  # the mask settles (temporal smoothing)
            for s in subs:
                assert flag_energy(s, pid) < 0.15 * sharp[0]
                assert face_error(s, pid, camera) < 8.0, "the person's face is unchanged (two VP8 generations)"
            # the publisher's self view: its own camera, processed, from the server
            await pub.wait_frames(pid, "video", 5, timeout=20)
            await until(lambda: flag_energy(pub, pid) < 0.15 * sharp[0], timeout=10, what="blurred self view")
            gauges = media.gauges()
            assert gauges["decoders"] == 1 and gauges["renditions"] == 1, gauges
            figures = await server.metrics()
            assert figures["consult_sfu_effects_active"] == 1 and figures["consult_sfu_effects_available"] == 1
            room = media.find_room("fx")  # type: ignore[arg-type]
            assert room is not None
            producer = room.find_producer(producer_id)  # type: ignore[arg-type]
            assert producer.sources.dump()["transform"] == "blur:strong"
            assert producer_id in room.participants[pid].consumers, "self-view consumer"

            # --- one subscriber caps at 320x180: one decode, one effect, two encoders
            await subs[1].send({"type": "subscription", "producer_id": producer_id, "max_width": 320, "max_height": 180})
            # 4:3 source: the 180-line ladder step is 240x180
            await until(lambda: received(subs[1], pid).sizes[-1] == (240, 180), timeout=10, what="240x180")
            await until(lambda: flag_energy(subs[1], pid) < 0.3 * laplacian_variance(box(reference, FLAG)), timeout=10, what="blurred 240x180")
            gauges = media.gauges()
            assert gauges["decoders"] == 1 and gauges["renditions"] == 2, gauges
            effect = producer.transform
            assert effect is not None
            stats0 = effect.stats()  # type: ignore[attr-defined]
            decoded0, encoded0 = media.counters.frames_decoded, media.counters.frames_encoded
            await asyncio.sleep(2.0)
            stats1 = effect.stats()  # type: ignore[attr-defined]
            decoded = media.counters.frames_decoded - decoded0
            encoded = media.counters.frames_encoded - encoded0
            applied = stats1.frames - stats0.frames
            assert decoded >= 10 and applied >= 5, (decoded, applied)
            assert applied <= decoded, "the effect runs at most once per decoded frame"
            assert 2 * applied - 4 <= encoded <= 2 * applied + 4, f"two encoders per processed frame: {encoded} for {applied}"
            assert received(subs[0], pid).sizes[-1] == (640, 480)

            # --- blur off: passthrough again, the pipeline stops
            reply = await pub.request({"type": "set_effect", "kind": "none"}, expect=("effect_state", "error"))
            assert reply["type"] == "effect_state" and reply["kind"] == "none", reply
            await subs[1].send({"type": "subscription", "producer_id": producer_id})
            # Lifting one's own cap resets that leg's link chooser (sfu/link_adaptation.py): the
            # full picture comes back at once, not after the estimate has grown again.
            await until(lambda: media.gauges()["decoders"] == 0, timeout=4.0, what="decoder stopped")
            decoded, encoded = media.counters.frames_decoded, media.counters.frames_encoded
            await asyncio.sleep(1.0)
            assert (media.counters.frames_decoded, media.counters.frames_encoded) == (decoded, encoded)
            assert producer_id not in room.participants[pid].consumers, "self-view consumer removed"
            for s in subs:
                before = received(s, pid).frames
                await s.wait_frames(pid, "video", before + 5, timeout=10)
                assert flag_energy(s, pid) > 0.5 * sharp[0], "the flag is sharp again"
        finally:
            await pub.close()
            for s in subs:
                await s.close()


async def test_echo_room_keeps_its_own_leg_when_the_effect_goes_off(tmp_path: Path) -> None:
    """In the network test's echo room a participant receives itself anyway: off keeps that leg."""
    async with running_server(tmp_path) as server:
        peer = TestPeer(server.ws_url, server.token("echo", "me", extra={"echo": True}), "me")
        try:
            await peer.connect()
            assert peer.joined is not None
            pid = peer.joined["participant_id"]
            await peer.publish([(PhotoVideoTrack(320, 240, fps=10), "camera")])
            await peer.wait_frames(pid, "video", 5, timeout=20)
            on = await peer.request({"type": "set_effect", "kind": "blur"}, expect=("effect_state", "error"))
            assert on["type"] == "effect_state", on
            off = await peer.request({"type": "set_effect", "kind": "none"}, expect=("effect_state", "error"))
            assert off["type"] == "effect_state", off
            before = received(peer, pid).frames
            await peer.wait_frames(pid, "video", before + 5, timeout=10)
        finally:
            await peer.close()
