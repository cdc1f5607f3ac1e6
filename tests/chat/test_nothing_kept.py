"""Nothing of a consultation outlives it, provably (issue 18 item 6, recordings_off).

One complete consultation through the real server with the Redis store: a practitioner and
a patient chat (text and a link), share a file, turn captions on (real speech, recognised
by the real model) and blur the patient's camera (the real segmentation model). Everything
the consultation produces carries a marker. After the end:

* the store holds no key whose name or value contains a marker (every key read by type),
  and no registered consultation-record list of the room;
* no file under the data directory or the temporary directory holds a marker, and no file
  appeared there during the consultation (the shared files lived in memory and nameless
  temporary files);
* every registered holder of consultation state is back to 0 bytes, and so is the
  ``consult_sfu_consultation_bytes_held`` gauge;
* every feature that keeps consultation data is a registered holder: a new holder, or one
  missing, fails here until this list and recordings_off's docstring say what it keeps.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from control.app import MEMORY
from tests.captions.speech import AMPLE_BUDGET_S
from tests.captions_e2e.conftest import Microphone, captions_of, feature, speech
from tests.chat.files_support import pdf, upload
from tests.chat.live import ChatPeer, call, live, peers, token
from tests.effects_e2e.conftest import PhotoVideoTrack
from tests.support.leaks import (
    consultation_records_left,
    files_holding,
    files_under,
    store_keys_holding,
)
from tests.support.waiting import until

pytestmark = [pytest.mark.redis, pytest.mark.long]

#: What each registered holder keeps (recordings_off/__init__.py says the same).
HOLDERS = {"captions", "chat", "effects", "files", "reconnect_choices", "waiting_room"}
SENTENCE = "please take one tablet twice a day after meals"


async def test_a_whole_consultation_leaves_nothing_behind(
    tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The server's temporary files (and its caption workers') go to a folder of this test's own.
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    marker = uuid.uuid4().hex
    chat_text = f"my results {marker}-chat"
    link_url = f"https://docs.example.org/{marker}-link"
    file_bytes = pdf(300_000)[:-40] + f"{marker}-file".encode().ljust(40, b" ")

    overrides = {"captions__start_workers": "startup", "captions__final_target_s": AMPLE_BUDGET_S, "captions__behind_s": AMPLE_BUDGET_S}
    async with live(tmp_path, "redis", request, **overrides) as (server, http):
        memory = server.app[MEMORY]
        await asyncio.wait_for(feature(server).wait_started(), 120)
        data_dir = Path(server.config.store.data_dir)
        before = files_under(data_dir, scratch)
        room = (await call(http, "POST", "/v1/rooms", {"kind": "quick", "practitioner": {"identity": "dr"}}, status=201))["id"]
        dr = ChatPeer(server.ws_url, await token(http, room, "dr", "practitioner", name="Dr Who"), "dr")
        ann = ChatPeer(server.ws_url, await token(http, room, "ann", "client", name="Ann"), "ann")
        async with peers(dr, ann):
            assert (await dr.connect())["type"] == "joined"
            assert (await ann.connect())["type"] == "joined"
            on = await dr.request({"type": "captions", "enabled": True, "read_lang": "en"}, expect=("captions_state", "error"))
            assert on["type"] == "captions_state", on
            mic, camera = Microphone(), PhotoVideoTrack(320, 240)
            await ann.publish([(mic, "microphone"), (camera, "camera")])
            blur = await ann.request({"type": "set_effect", "kind": "blur"}, expect=("effect_state", "error"))
            assert blur["type"] == "effect_state", blur

            said = await ann.say(chat_text)
            assert said["type"] == "chat_message", said
            linked = await dr.link(link_url, text="our shared notes")
            assert linked["type"] == "chat_message", linked
            status, shared = await upload(server.http_url, room, ann.token, file_bytes, "results.pdf")
            assert status == 201, shared
            await dr.until(lambda m: m["type"] == "file_shared" and m["file"]["file_id"] == shared["file_id"])

            mic.say(await speech(SENTENCE), delay_s=0.5)
            await until(lambda: bool(captions_of(dr)) and not mic.speaking, 60, "a caption final")
            heard = [c["text"] for c in captions_of(dr) if len(c["text"]) >= 8]
            assert heard, captions_of(dr)
            figures = await server.metrics()
            assert figures["consult_sfu_consultation_bytes_held"] > len(file_bytes), figures

            ended = await call(http, "POST", f"/v1/rooms/{room}/end")
            assert ended["ended_at"] is not None, ended

        deadline = time.monotonic() + 10
        while (held := (await server.metrics())["consult_sfu_consultation_bytes_held"]) != 0:
            assert time.monotonic() < deadline, f"{held} bytes of the ended consultation still held"
            await asyncio.sleep(0.1)
        assert set(memory.holders()) == HOLDERS
        assert all(size == 0 for size in memory.held_bytes().values()), memory.held_bytes()

        markers = [marker.encode(), *(text.encode() for text in heard)]
        prefix = server.config.store.redis_prefix
        redis_url = server.config.store.redis_url
        assert await store_keys_holding(redis_url, prefix, markers) == {}
        assert await consultation_records_left(redis_url, prefix, room) == []
        after = files_under(data_dir, scratch)
        assert after - before == set(), "files the consultation left"
        assert files_holding(after, markers) == {}
