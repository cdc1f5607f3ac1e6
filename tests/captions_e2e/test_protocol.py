"""The ``captions`` message against the real server, without speech: the languages offered
on join, the room policy, who may set captions for whom, unknown languages, and a server
whose caption workers cannot start.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.captions_e2e.conftest import captions_server, feature, join, pid
from tests.effects_e2e.test_policy_and_uploads import call, live, practitioner, room_with


async def test_languages_on_join_and_settings_for_the_patient(tmp_path: Path) -> None:
    async with captions_server(tmp_path) as server:
        dr = await join(server, "cc", "dr", role="practitioner")
        pat = await join(server, "cc", "pat")
        try:
            state = await pat.next_message("captions_state")
            assert state["participant_id"] == pid(pat) and state["enabled"] is False
            assert {"en", "ko"} <= set(state["available_languages"]["speak"])
            # the practitioner sets the patient's languages: both get the new state
            reply = await dr.request({"type": "captions", "enabled": True, "participant_id": pid(pat), "speak_lang": "ko", "read_lang": "ko"},
                                     expect=("captions_state", "error"))
            assert reply["type"] == "captions_state", reply
            assert (reply["participant_id"], reply["enabled"], reply["speak_lang"], reply["read_lang"]) == (pid(pat), True, "ko", "ko")
            told = await pat.wait_for(lambda m: m["type"] == "captions_state" and m["enabled"] is True)
            assert told["participant_id"] == pid(pat) and told.get("id") is None
            assert feature(server).service.dump()["rooms"]["cc"]["listeners"] == {pid(pat): "ko"}
            figures = await server.metrics()
            assert figures["consult_sfu_captions_available"] == 1
            assert figures["consult_sfu_captions_listeners"] == 1
            assert figures["consult_sfu_captions_dropped_packets_total"] == 0
            # a patient may not set them for the practitioner
            refused = await pat.request({"type": "captions", "enabled": True, "participant_id": pid(dr)}, expect=("captions_state", "error"))
            assert (refused["type"], refused["code"]) == ("error", "forbidden"), refused
            # someone who is not in the consultation
            missing = await dr.request({"type": "captions", "enabled": True, "participant_id": "PAnobody"}, expect=("captions_state", "error"))
            assert (missing["type"], missing["code"]) == ("error", "not_found"), missing
        finally:
            await dr.close()
            await pat.close()


async def test_a_language_without_a_model_names_the_available_ones(tmp_path: Path) -> None:
    async with captions_server(tmp_path) as server:
        peer = await join(server, "cc", "pat")
        try:
            for field in ("speak_lang", "read_lang"):
                reply = await peer.request({"type": "captions", "enabled": True, field: "sw"}, expect=("captions_state", "error"))
                assert (reply["type"], reply["code"]) == ("error", "language_unavailable"), reply
                assert "'sw'" in reply["message"] and "en" in reply["message"] and "ko" in reply["message"], reply
            malformed = await peer.request({"type": "captions", "enabled": True, "read_lang": "e"}, expect=("captions_state", "error"))
            assert (malformed["type"], malformed["code"]) == ("error", "invalid_field"), malformed
            # nothing changed: still no listener
            assert feature(server).service.dump()["rooms"].get("cc", {}).get("listeners", {}) == {}
        finally:
            await peer.close()


async def test_room_policy_switches_captions_off(tmp_path: Path) -> None:
    async with live(tmp_path) as (server, http, _):
        room = await room_with(http, captions_allowed=False)
        dr = await practitioner(server, http, room)
        try:
            assert dr.joined is not None and dr.joined["settings"]["captions_allowed"] is False
            reply = await dr.request({"type": "captions", "enabled": True, "read_lang": "en"}, expect=("captions_state", "error"))
            assert (reply["type"], reply["code"]) == ("error", "policy"), reply
            assert not [m for m in dr.messages if m["type"] == "captions_state"], "no CC menu in this room"
        finally:
            await dr.close()
        allowed = await room_with(http)
        issued = await call(http, "POST", f"/v1/rooms/{allowed}/tokens", {"identity": "dr", "role": "practitioner"}, status=201)
        assert issued["token"]


async def test_workers_that_cannot_start_make_captions_unavailable(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="control.features.captions.feature")
    # a preloaded language without a model: the workers cannot be started
    async with captions_server(tmp_path, captions__preload_languages="sw") as server:
        peer = await join(server, "cc", "pat")
        try:
            reply = await peer.request({"type": "captions", "enabled": True}, expect=("captions_state", "error"))
            assert (reply["type"], reply["code"]) == ("error", "unavailable"), reply
            assert "'sw'" in reply["message"]
            assert any("captions are unavailable" in r.getMessage() for r in caplog.records)
            assert (await server.metrics())["consult_sfu_captions_available"] == 0
        finally:
            await peer.close()
