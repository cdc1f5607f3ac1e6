"""Which microphones are tapped, without speech: speakers follow listeners.

While a room has a listener, every microphone in it is tapped in its speaker's language
(also one published later); a language change replaces the tap; an unpublished microphone
loses it; when the last listener turns captions off there is no tap left. With
``start_workers = "first_use"`` no worker runs until somebody turns captions on.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from tests.captions_e2e.conftest import captions_server, feature, join, pid
from tests.support.media import ToneAudioTrack
from tests.support.server import RunningServer
from tests.support.waiting import until


def taps(server: RunningServer) -> dict[tuple[str, str], str]:
    """(participant, producer) -> language of the feature's taps."""
    listed: list[dict[str, str]] = feature(server).dump()["taps"]  # type: ignore[assignment]
    return {(t["participant_id"], t["producer_id"]): t["language"] for t in listed}


def producer_taps(server: RunningServer, room_id: str, producer_id: str) -> int:
    room = server.media.find_room(room_id)  # type: ignore[arg-type]
    assert room is not None
    return len(room.find_producer(producer_id).taps)  # type: ignore[arg-type]


async def test_microphones_follow_listeners(tmp_path: Path) -> None:
    async with captions_server(tmp_path) as server:
        dr = await join(server, "sp", "dr", role="practitioner")
        pat = await join(server, "sp", "pat")
        try:
            first = (await dr.publish([(ToneAudioTrack(), "microphone")]))[0]["producer_id"]
            assert taps(server) == {}, "nobody reads captions: no tap"
            on = await pat.request({"type": "captions", "enabled": True, "read_lang": "en"}, expect=("captions_state", "error"))
            assert on["type"] == "captions_state", on
            assert taps(server) == {(pid(dr), first): "en"}
            assert producer_taps(server, "sp", first) == 1
            # a microphone published later is tapped too, in its speaker's language
            reply = await dr.request({"type": "captions", "enabled": False, "participant_id": pid(pat), "speak_lang": "ko"}, expect=("captions_state", "error"))
            assert reply["type"] == "captions_state" and reply["enabled"] is False, reply
            assert taps(server) == {}, "the practitioner switched the only listener off"
            await pat.request({"type": "captions", "enabled": True}, expect=("captions_state",))
            later = (await pat.publish([(ToneAudioTrack(330.0), "microphone")]))[0]["producer_id"]
            assert taps(server) == {(pid(dr), first): "en", (pid(pat), later): "ko"}
            # a language change replaces the tap (one tap on the producer, new language)
            await dr.request({"type": "captions", "enabled": False, "speak_lang": "ko"}, expect=("captions_state",))
            assert taps(server)[(pid(dr), first)] == "ko" and producer_taps(server, "sp", first) == 1
            speakers: list[dict[str, Any]] = feature(server).service.dump()["speakers"]
            assert sorted((s["participant_id"], s["language"]) for s in speakers) == sorted([(pid(dr), "ko"), (pid(pat), "ko")])
            # unpublished: the tap goes with the producer
            await dr.send({"type": "unpublish", "producer_id": first})
            await until(lambda: (pid(dr), first) not in taps(server), 10, "the unpublished microphone's tap removed")
            assert [s["participant_id"] for s in feature(server).service.dump()["speakers"]] == [pid(pat)]
            # the last listener turns captions off: nothing is tapped
            await pat.request({"type": "captions", "enabled": False}, expect=("captions_state",))
            assert taps(server) == {} and producer_taps(server, "sp", later) == 0
            assert feature(server).service.dump()["speakers"] == []
        finally:
            await dr.close()
            await pat.close()


async def test_workers_start_at_first_use_when_configured(tmp_path: Path) -> None:
    async with captions_server(tmp_path, captions__start_workers="first_use") as server:
        peer = await join(server, "fu", "pat")
        try:
            state = await peer.next_message("captions_state")
            assert "en" in state["available_languages"]["speak"], "languages are known without workers"
            assert feature(server).dump()["started"] is False
            on = await peer.request({"type": "captions", "enabled": True}, expect=("captions_state", "error"))
            assert on["type"] == "captions_state" and on["read_lang"] == "en", on
            assert feature(server).dump()["started"] is True
            await feature(server).wait_started()
            assert feature(server).unavailable is None
        finally:
            await peer.close()


async def test_sessions_closing_after_the_service_is_clean(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """At shutdown the service closes before the sessions: their on_left must not fail on it."""
    caplog.set_level(logging.WARNING)
    async with captions_server(tmp_path) as server:
        dr = await join(server, "sd", "dr", role="practitioner")
        pat = await join(server, "sd", "pat")
        try:
            await dr.publish([(ToneAudioTrack(), "microphone")])
            await pat.publish([(ToneAudioTrack(330.0), "microphone")])
            for peer in (dr, pat):
                on = await peer.request({"type": "captions", "enabled": True}, expect=("captions_state", "error"))
                assert on["type"] == "captions_state", on
            assert len(taps(server)) == 2
            service = feature(server).service
            await service.close()  # what the cleanup context does first
            workers: dict[str, list[dict[str, Any]]] = service.dump()["workers"]
            assert workers["recognition"] and not any(w["alive"] for w in workers["recognition"] + workers["translation"])
        finally:
            await dr.close()
            await until(lambda: not taps(server) or len(taps(server)) == 1, 10, "dr's tap removed")
            await pat.close()
            await until(lambda: not taps(server), 10, "every tap removed")
    problems = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith(("control", "signalling", "captions"))]
    assert problems == []
