"""Room policy, 'ask again', the organisation's images and uploads, through the real server.

Rooms and tokens come from the control API (so tokens carry the organisation), media from
aiortc peers. Uploads go to /v1/backgrounds with an API key; refusals name the problem.
"""

from __future__ import annotations

import contextlib
import time
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import cv2
import numpy as np
import pytest

from control.apikeys import create_key
from control.store.memory import MemoryStore
from tests.effects.conftest import SKY, photo_bgr
from tests.effects_e2e.conftest import PhotoVideoTrack, box, frame_bgr
from tests.support.peer import TestPeer
from tests.support.server import RunningServer, running_server
from tests.support.waiting import until

ORG = "clinic"


@contextlib.asynccontextmanager
async def live(tmp_path: Path, **overrides: Any) -> AsyncIterator[tuple[RunningServer, aiohttp.ClientSession, str]]:
    async with running_server(tmp_path, **overrides) as server:
        keys = MemoryStore(data_dir=server.config.store.data_dir)  # the server reads the same file
        key = await create_key(keys, ORG, None)
        dept_key = await create_key(keys, ORG, "cardio")
        await keys.close()
        async with aiohttp.ClientSession(base_url=server.http_url, headers={"Authorization": f"Bearer {key}"}) as http:
            yield server, http, dept_key


async def call(http: aiohttp.ClientSession, method: str, path: str, body: Any = None, status: int = 200, **kwargs: Any) -> Any:
    if body is not None:
        kwargs["json"] = body
    async with http.request(method, path, **kwargs) as resp:
        data = await resp.json() if resp.content_type == "application/json" else await resp.read()
        assert resp.status == status, (resp.status, data)
        return data


async def room_with(http: aiohttp.ClientSession, **settings: Any) -> str:
    now = time.time()
    body = {
        "kind": "appointment",
        "practitioner": {"identity": "dr"},
        "client": {"identity": "ann"},
        "starts_at": now + 60,
        "ends_at": now + 3600,
        "settings": settings,
    }
    room = await call(http, "POST", "/v1/rooms", body, status=201)
    return str(room["id"])


async def practitioner(server: RunningServer, http: aiohttp.ClientSession, room: str, name: str = "dr") -> TestPeer:
    issued = await call(http, "POST", f"/v1/rooms/{room}/tokens", {"identity": "dr", "name": "Dr", "role": "practitioner"}, status=201)
    peer = TestPeer(server.ws_url, issued["token"], name)
    reply = await peer.connect()
    assert reply["type"] == "joined", reply
    return peer


GARDEN_BGR = (60, 170, 90)  # a flat green: easy to recognise behind the person


def solid_png(bgr: tuple[int, int, int], width: int = 640, height: int = 360) -> bytes:
    ok, data = cv2.imencode(".png", np.full((height, width, 3), bgr, np.uint8))
    assert ok
    return bytes(data)


def png_bytes(width: int = 640, height: int = 360) -> bytes:
    ok, data = cv2.imencode(".png", photo_bgr(width, height))
    assert ok
    return bytes(data)


async def test_policy_off_refuses_effects_with_a_reason(tmp_path: Path) -> None:
    async with live(tmp_path) as (server, http, _):
        room = await room_with(http, background_effects_allowed=False)
        peer = await practitioner(server, http, room)
        try:
            assert peer.joined is not None and peer.joined["settings"]["background_effects_allowed"] is False
            await peer.publish([(PhotoVideoTrack(320, 240, 10), "camera")])
            reply = await peer.request({"type": "set_effect", "kind": "blur"}, expect=("effect_state", "error"))
            assert reply["type"] == "error" and reply["code"] == "policy", reply
            assert "background effects are switched off" in reply["message"]
            assert server.media.gauges()["decoders"] == 0
        finally:
            await peer.close()


async def test_set_effect_needs_a_camera_and_valid_fields(tmp_path: Path) -> None:
    async with live(tmp_path) as (server, http, _):
        room = await room_with(http)
        peer = await practitioner(server, http, room)
        try:
            reply = await peer.request({"type": "set_effect", "kind": "blur"}, expect=("effect_state", "error"))
            assert (reply["type"], reply["code"]) == ("error", "not_found") and "camera" in reply["message"]
            bad = await peer.request({"type": "set_effect", "kind": "sepia"}, expect=("effect_state", "error"))
            assert bad["code"] == "invalid_field" and "'kind'" in bad["message"]
            bad = await peer.request({"type": "set_effect", "kind": "image"}, expect=("effect_state", "error"))
            assert bad["code"] == "missing_field" and "image_id" in bad["message"]
            await peer.publish([(PhotoVideoTrack(320, 240, 10), "camera")])
            missing = await peer.request({"type": "set_effect", "kind": "image", "image_id": "img_nope"}, expect=("effect_state", "error"))
            assert missing["code"] == "not_found" and "img_nope" in missing["message"]
        finally:
            await peer.close()


@pytest.mark.long
async def test_images_uploaded_listed_offered_applied_and_asked_again(tmp_path: Path) -> None:
    async with live(tmp_path) as (server, http, dept_key):
        data = solid_png(GARDEN_BGR)
        info = await call(http, "POST", "/v1/backgrounds?name=Garden", data=data, headers={"Content-Type": "image/png"}, status=201)
        assert info["name"] == "Garden" and (info["width"], info["height"]) == (640, 360)
        listed = await call(http, "GET", "/v1/backgrounds")
        assert [i["image_id"] for i in listed["images"]] == [info["image_id"]]
        thumb = await call(http, "GET", info["thumbnail_url"], headers={"Authorization": ""})
        decoded = cv2.imdecode(np.frombuffer(thumb, np.uint8), cv2.IMREAD_COLOR)
        assert decoded is not None and decoded.shape[:2] == (180, 320)
        # a department key may list but not change the organisation's set
        async with http.post("/v1/backgrounds?name=X", data=data, headers={"Content-Type": "image/png", "Authorization": f"Bearer {dept_key}"}) as resp:
            assert resp.status == 403

        room = await room_with(http, effects_ask_again=True)
        peer = await practitioner(server, http, room)
        try:
            offered = await peer.next_message("backgrounds")
            assert offered["images"] == [
                {"image_id": info["image_id"], "name": "Garden", "thumbnail_url": f"backgrounds/{ORG}/{info['image_id']}/thumb.jpg"}
            ]
            assert not [m for m in peer.messages if m["type"] == "effect_previous"], "nothing chosen yet"
            await peer.publish([(PhotoVideoTrack(320, 240, 10), "camera")])
            reply = await peer.request({"type": "set_effect", "kind": "image", "image_id": info["image_id"]}, expect=("effect_state", "error"))
            assert reply["type"] == "effect_state" and reply["kind"] == "image" and reply["image_id"] == info["image_id"], reply
            assert server.media.gauges()["decoders"] == 1
            # the self view shows the replaced background: the sky is now the image's colour
            assert peer.joined is not None
            me = peer.joined["participant_id"]
            await peer.wait_frames(me, "video", 5, timeout=20)

            def sky_error() -> float:
                rec = peer.receiving_from(me, "video")
                assert rec is not None and rec.last_frame is not None
                sky = box(frame_bgr(rec.last_frame), SKY).reshape(-1, 3).mean(axis=0)
                return float(np.abs(sky - np.array(GARDEN_BGR)).max())

            await until(lambda: sky_error() < 12.0, timeout=15, what="the sky replaced by the image's colour")
            # an administrator adds an image during the call: the page's list follows
            count = len(peer.messages)
            beach = await call(http, "POST", "/v1/backgrounds?name=Beach", data=png_bytes(480, 270), headers={"Content-Type": "image/jpeg"}, status=201)
            updated = await peer.next_message("backgrounds", after=count)
            assert [i["name"] for i in updated["images"]] == ["Garden", "Beach"]
            await call(http, "DELETE", f"/v1/backgrounds/{beach['image_id']}", status=204)
        finally:
            await peer.close()

        # joining again: the room asks again, with the previous choice
        again = await practitioner(server, http, room, "dr2")
        try:
            previous = await again.next_message("effect_previous")
            assert previous["kind"] == "image" and previous["image_id"] == info["image_id"]
        finally:
            await again.close()

        await call(http, "DELETE", f"/v1/backgrounds/{info['image_id']}", status=204)
        gone = await call(http, "DELETE", f"/v1/backgrounds/{info['image_id']}", status=404)
        assert gone["error"]["code"] == "not_found"
        assert (await call(http, "GET", "/v1/backgrounds"))["images"] == []


def png_with_bad_crc() -> bytes:
    data = bytearray(png_bytes(320, 180))
    # IHDR's CRC sits at bytes 29..33
    data[29] ^= 0xFF
    return bytes(data)


def tiny_png_header(width: int, height: int) -> bytes:
    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    chunk = b"IHDR" + ihdr
    return b"\x89PNG\r\n\x1a\n" + len(ihdr).to_bytes(4, "big") + chunk + zlib.crc32(chunk).to_bytes(4, "big")


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code", "words"),
    [
        (b"GIF89a" + b"\x00" * 64, "image/png", 415, "unsupported_format", "neither PNG nor JPEG"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml", 415, "unsupported_format", "Content-Type"),
        (tiny_png_header(60000, 60000), "image/png", 413, "too_large", "60000x60000"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * (6 * 1024 * 1024), "image/png", 413, "too_large", "5242880"),
        (png_with_bad_crc(), "image/png", 422, "corrupt", "CRC"),
        (png_bytes(640, 360)[:3000], "image/png", 422, "corrupt", ""),
        (png_bytes(100, 60), "image/png", 422, "too_small", "100x60"),
    ],
    ids=["gif", "svg", "huge-dimensions", "oversized-file", "bad-crc", "truncated", "too-small"],
)
async def test_bad_uploads_are_refused_naming_the_problem(
    tmp_path: Path, body: bytes, content_type: str, status: int, code: str, words: str
) -> None:
    async with live(tmp_path) as (_, http, _dept):
        error = await call(http, "POST", "/v1/backgrounds?name=Bad", data=body, headers={"Content-Type": content_type}, status=status)
        assert error["error"]["code"] == code, error
        assert words in error["error"]["message"], error
        assert (await call(http, "GET", "/v1/backgrounds"))["images"] == []


async def test_upload_without_a_name_is_refused(tmp_path: Path) -> None:
    async with live(tmp_path) as (_, http, _dept):
        error = await call(http, "POST", "/v1/backgrounds", data=png_bytes(), headers={"Content-Type": "image/png"}, status=422)
        assert "name" in error["error"]["message"]
