"""Speech through the whole server: aiortc peers publish espeak-ng speech over loopback, the
SFU taps the microphones for the caption workers, and listeners get ``caption`` messages on
their WebSocket.

Word error rate threshold for the English sentences: 0.35 (pocketsphinx on espeak-ng's
en-us+f2 voice through Opus measures ~0.05-0.25, see docs/captions.md); Korean is checked
loosely (the synthetic Korean voice is weak).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from tests.captions.build_argos_model import PHRASES
from tests.captions.speech import RATE, synthesize, word_error_rate
from tests.captions_e2e.conftest import (
    Microphone,
    captions_of,
    captions_server,
    feature,
    join,
    pid,
    speech,
)
from tests.support.waiting import until

pytestmark = pytest.mark.long

WER_LIMIT = 0.35
SENTENCES = [
    "how are you feeling today",
    "please take one tablet twice a day after meals",
    "do you have any allergies to medicine",
]


async def test_listeners_in_two_languages_then_off_then_leaving(tmp_path: Path, argos_files: dict[tuple[str, str], Path]) -> None:
    async with captions_server(tmp_path, argos_files) as server:
        dr = await join(server, "cc", "dr", role="practitioner")  # reads English
        ann = await join(server, "cc", "ann")  # reads French
        pat = await join(server, "cc", "pat")  # speaks, never touches captions
        try:
            on = await dr.request({"type": "captions", "enabled": True, "read_lang": "en"}, expect=("captions_state", "error"))
            assert on["type"] == "captions_state" and on["read_lang"] == "en", on
            fr = await ann.request({"type": "captions", "enabled": True, "read_lang": "fr"}, expect=("captions_state", "error"))
            assert fr["type"] == "captions_state" and fr["read_lang"] == "fr", fr
            # published after captions went on: the TrackPublished path taps it
            mic = Microphone()
            await pat.publish([(mic, "microphone")])
            began = time.time()
            mic.say(await speech(*SENTENCES), delay_s=1.0)
            await until(lambda: len(captions_of(dr)) >= len(SENTENCES) and not mic.speaking, 60, "English finals")
            await asyncio.sleep(1.5)
            finals = captions_of(dr)
            # every caption says when its utterance started and ended (epoch s, server clock)
            for caption in captions_of(dr, final=None):
                assert began <= caption["started_at"] <= caption["ended_at"] <= time.time(), caption
            assert all(0.5 <= c["ended_at"] - c["started_at"] <= 6.0 for c in finals), finals
            # the microphone is still live (sending silence): the speech is already counted,
            # and only the speech (with the VAD's pre-roll and hangover), not the silence
            spoken = sum([len(await asyncio.to_thread(synthesize, s)) / RATE for s in SENTENCES])
            counted = (await server.metrics())["consult_sfu_captions_audio_seconds_total"]
            assert 0.6 * spoken <= counted <= spoken + 0.6 * len(SENTENCES), (counted, spoken)
            assert {c["speaker_id"] for c in finals} == {pid(pat)}
            assert all(c["language"] == "en" and c.get("translated_from") is None for c in finals)
            heard = " ".join(c["text"] for c in finals)
            wer = word_error_rate(" ".join(SENTENCES), heard)
            assert wer <= WER_LIMIT, f"WER {wer:.2f} > {WER_LIMIT}: heard {heard!r}"
            # partials come first and are replaced by the final of the same utterance
            partial_ids = {c["utterance_id"] for c in captions_of(dr, final=False)}
            assert partial_ids and partial_ids <= {c["utterance_id"] for c in finals}
            # the French reader gets the translation (the tiny argos package's fixed phrase)
            french = captions_of(ann)
            assert french and {c["text"] for c in french} == {PHRASES[("en", "fr")]}
            assert {(c["speaker_id"], c["language"], c["translated_from"]) for c in french} == {(pid(pat), "fr", "en")}
            assert {c["utterance_id"] for c in french} <= {c["utterance_id"] for c in finals}
            assert not captions_of(pat, final=None), "the speaker did not turn captions on: nothing sent"
            service = feature(server).service
            assert service.dump()["speakers"][0]["dropped_packets"] == 0

            # --- Ann turns captions off: nothing more for her, no more translation into French
            off = await ann.request({"type": "captions", "enabled": False}, expect=("captions_state", "error"))
            assert off["type"] == "captions_state" and off["enabled"] is False, off
            seen_ann, seen_dr = len(ann.messages), len(captions_of(dr))
            translated = service.translations_requested["en->fr"]
            mic.say(await speech(SENTENCES[0]))
            await until(lambda: len(captions_of(dr)) > seen_dr and not mic.speaking, 30, "a new English final")
            await asyncio.sleep(1.0)
            assert not captions_of(ann, final=None, after=seen_ann)
            assert service.translations_requested["en->fr"] == translated

            # --- the last listener leaves: the microphone is not tapped any more
            await dr.close()
            await until(lambda: not service.dump()["speakers"], 10, "speakers detached")
            assert service.dump()["rooms"]["cc"]["listeners"] == {}
            assert feature(server).dump()["taps"] == []
            room = server.media.find_room("cc")  # type: ignore[arg-type]
            assert room is not None
            producer = next(iter(room.participants[pid(pat)].producers.values()))  # type: ignore[index]
            assert not producer.taps
        finally:
            for peer in (dr, ann, pat):
                await peer.close()
        # the consultation is over: its transcript is forgotten
        await until(lambda: "cc" not in feature(server).service.dump()["rooms"], 10, "room forgotten")


async def test_korean_set_by_the_practitioner(tmp_path: Path) -> None:
    async with captions_server(tmp_path) as server:
        dr = await join(server, "ko", "dr", role="practitioner")
        kim = await join(server, "ko", "kim")
        try:
            mic = Microphone()
            await kim.publish([(mic, "microphone")])
            reply = await dr.request({"type": "captions", "enabled": False, "participant_id": pid(kim), "speak_lang": "ko"},
                                     expect=("captions_state", "error"))
            assert reply["type"] == "captions_state" and reply["speak_lang"] == "ko", reply
            on = await dr.request({"type": "captions", "enabled": True, "read_lang": "ko"}, expect=("captions_state", "error"))
            assert on["type"] == "captions_state", on
            mic.say(await speech("안녕하세요 오늘 기분이 어떠세요", voice="ko"), delay_s=0.5)
            await until(lambda: bool(captions_of(dr)) and not mic.speaking, 60, "a Korean final")
            finals = captions_of(dr)
            assert all(c["text"].strip() for c in finals)  # loose: the synthetic voice is weak
            assert {(c["speaker_id"], c["language"]) for c in finals} == {(pid(kim), "ko")}
        finally:
            await dr.close()
            await kim.close()


@pytest.mark.serial  # an echo is told by its timing against the original
async def test_the_same_utterance_in_two_microphones_is_one_caption(tmp_path: Path) -> None:
    async with captions_server(tmp_path) as server:
        dr = await join(server, "echo-cc", "dr", role="practitioner")
        pat = await join(server, "echo-cc", "pat")
        reader = await join(server, "echo-cc", "reader")
        try:
            mics = [Microphone(), Microphone()]
            await dr.publish([(mics[0], "microphone")])
            await pat.publish([(mics[1], "microphone")])
            on = await reader.request({"type": "captions", "enabled": True, "read_lang": "en"}, expect=("captions_state", "error"))
            assert on["type"] == "captions_state", on
            await until(lambda: len(feature(server).service.dump()["speakers"]) == 2, 10, "two speakers")
            voice = await speech(SENTENCES[2])
            # the patient's microphone hears the doctor from the loudspeaker: later and quieter
            mics[0].say(voice, delay_s=0.5)
            mics[1].say((voice * 0.4).astype(voice.dtype), delay_s=0.7)
            await until(lambda: bool(captions_of(reader)) and not any(m.speaking for m in mics), 60, "a final")
            await asyncio.sleep(3.0)  # both streams' finals are in
            finals = captions_of(reader)
            lines = {c["utterance_id"]: c for c in finals}  # a re-attribution replaces the line
            assert len(lines) == 1, finals
            assert next(iter(lines.values()))["speaker_id"] == pid(dr)
            # the echo's partials are held back (issue 13), and no line stays a partial:
            # each one ends as a final or is withdrawn
            assert not [c for c in captions_of(reader, final=False) if c["speaker_id"] == pid(pat)]
            last: dict[str, str] = {}
            for m in reader.messages:
                if m["type"] == "caption":
                    last[m["utterance_id"]] = "final" if m["final"] else "partial"
                elif m["type"] == "caption_withdrawn":
                    last[m["utterance_id"]] = "withdrawn"
            assert "partial" not in last.values(), last
        finally:
            for peer in (dr, pat, reader):
                await peer.close()
