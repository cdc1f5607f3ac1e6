"""The CC menu in headless Chromium and Firefox against the in-process server.

A practitioner's page turns captions on with the CC button; an aiortc peer (the patient,
camera + microphone) speaks espeak-ng English into the room; the final caption appears as a
subtitle under the patient's tile and in the transcript (with its start time); a
``caption_withdrawn`` from the server removes a line. A room whose policy forbids captions
hides the button.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from captions.room_state import CaptionEvent, CaptionWithdrawn
from control.tokens import join_url
from tests.browser.engine import Engine
from tests.browser.pages import open_and_join
from tests.captions.speech import word_error_rate
from tests.captions_e2e.conftest import (
    Microphone,
    captions_server,
    feature,
    join,
    pid,
    speech,
)
from tests.effects_e2e.test_policy_and_uploads import call, live, room_with
from tests.support.media import PatternVideoTrack
from tests.support.waiting import until

pytestmark = [pytest.mark.browser, pytest.mark.long]

SENTENCE = "please take one tablet twice a day after meals"

SUBTITLES_JS = """
(participantId) => {
  const tile = document.querySelector(`.tile[data-participant="${participantId}"]`);
  if (!tile) return null;
  return [...tile.querySelectorAll('.captions-subtitles .captions-line')].map(
    (p) => ({text: p.textContent, final: p.classList.contains('final'), utterance: p.dataset.utterance}));
}
"""


async def test_cc_button_turns_captions_on_and_subtitles_appear_under_the_speaker(tmp_path: Path, browser: Engine) -> None:
    async with captions_server(tmp_path) as server:
        pat = await join(server, "ccpage", "pat", name="Pat")
        mic = Microphone()
        await pat.publish([(PatternVideoTrack(320, 240, fps=10), "camera"), (mic, "microphone")])
        page = await browser.new_page()
        try:
            token = server.token("ccpage", "dr", role="practitioner", name="Dr")
            await open_and_join(page, join_url(server.http_url, "ccpage", token))
            await page.wait_for_selector(f'.tile[data-participant="{pid(pat)}"]')
            await page.wait_for_selector("#btn-captions:not([hidden])")
            await page.click("#btn-captions")
            await page.wait_for_selector("#captions-menu:not([hidden])")
            options = await page.evaluate("() => [...document.querySelectorAll('#captions-read option')].map((e) => e.value)")
            assert "en" in options, options
            await page.select("#captions-read", "en")
            await page.check("#captions-enabled")
            await page.check("#captions-transcript-toggle")
            await until(lambda: bool(feature(server).service.dump()["rooms"].get("ccpage", {}).get("listeners")), 10, "the page is a listener")
            mic.say(await speech(SENTENCE), delay_s=0.5)

            subtitles: list[dict[str, Any]] = []

            async def final_shown() -> bool:
                nonlocal subtitles
                subtitles = await page.evaluate(SUBTITLES_JS, pid(pat)) or []
                return any(s["final"] for s in subtitles)

            deadline = asyncio.get_running_loop().time() + 60
            while not await final_shown():
                assert asyncio.get_running_loop().time() < deadline, f"no final subtitle under the speaker's tile: {subtitles}"
                await asyncio.sleep(0.2)
            text = " ".join(s["text"] for s in subtitles if s["final"])
            assert word_error_rate(SENTENCE, text) <= 0.5, text
            transcript = await page.text("#captions-transcript")
            assert "Pat:" in transcript and any(word in transcript for word in ("tablet", "meals", "day")), transcript
            started = await page.evaluate("() => Date.parse(document.querySelector('#captions-transcript li time').dateTime) / 1000")
            assert time.time() - 120 <= started <= time.time(), started  # the utterance's started_at
            await page.screenshot(tmp_path / "captions-subtitles.png")

            # caption_withdrawn (issue 13) from the server: the line goes from under the tile
            service = feature(server)
            (reader,) = service.service.dump()["rooms"]["ccpage"]["listeners"]
            now = time.monotonic()
            service.deliver(CaptionEvent("ccpage", pid(pat), "an echo partial", "en", False, None, (reader,),
                                         "withdraw-me", now - 1.0, now))

            async def lines() -> list[str]:
                return [s["utterance"] for s in await page.evaluate(SUBTITLES_JS, pid(pat)) or []]

            for _ in range(50):
                if "withdraw-me" in await lines():
                    break
                await asyncio.sleep(0.1)
            assert "withdraw-me" in await lines()
            service.deliver(CaptionWithdrawn("ccpage", "withdraw-me", (reader,)))
            for _ in range(50):
                if "withdraw-me" not in await lines():
                    break
                await asyncio.sleep(0.1)
            assert "withdraw-me" not in await lines()
        finally:
            await page.close()
            await pat.close()


async def test_the_practitioner_turns_captions_on_for_the_patient(tmp_path: Path, browser: Engine) -> None:
    """The patient never touches the CC button: the practitioner sets it for them."""
    async with captions_server(tmp_path) as server:
        dr = await join(server, "ccfor", "dr", role="practitioner", name="Dr")
        mic = Microphone()
        await dr.publish([(PatternVideoTrack(320, 240, fps=10), "camera"), (mic, "microphone")])
        page = await browser.new_page()
        try:
            await open_and_join(page, join_url(server.http_url, "ccfor", server.token("ccfor", "pat", name="Pat")))
            patient = await page.evaluate("() => window.consult.client.self.participant_id")
            await page.wait_for_selector(f'.tile[data-participant="{pid(dr)}"]')
            reply = await dr.request({"type": "captions", "enabled": True, "participant_id": patient, "read_lang": "en"},
                                     expect=("captions_state", "error"))
            assert reply["type"] == "captions_state", reply
            await page.wait_for(
                "(id) => { const s = window.consult.captions.states.get(id); return !!(s && s.enabled); }", patient, timeout_s=10,
                what="captions on for the patient",
            )
            await page.click("#btn-captions")
            assert await page.is_checked("#captions-enabled"), "the menu shows what the practitioner set"
            assert await page.is_hidden(".captions-for"), "only a practitioner chooses for whom"
            await page.press("Escape")
            mic.say(await speech(SENTENCE), delay_s=0.5)
            await page.wait_for(
                "(id) => !!document.querySelector(`.tile[data-participant=\"${id}\"] .captions-line.final`)", pid(dr), timeout_s=60,
                what="a final subtitle under the practitioner's tile",
            )
            lines = await page.evaluate(SUBTITLES_JS, pid(dr))
            text = " ".join(line["text"] for line in lines if line["final"])
            assert word_error_rate(SENTENCE, text) <= 0.5, text
        finally:
            await page.close()
            await dr.close()


async def test_policy_hides_the_cc_button(tmp_path: Path, browser: Engine) -> None:
    async with live(tmp_path) as (server, http, _dept):
        forbidden = await room_with(http, captions_allowed=False)
        issued = await call(http, "POST", f"/v1/rooms/{forbidden}/tokens", {"identity": "dr", "name": "Dr", "role": "practitioner"}, status=201)
        page = await browser.new_page()
        try:
            await open_and_join(page, join_url(server.http_url, forbidden, str(issued["token"])))
            await asyncio.sleep(0.5)
            assert await page.is_hidden("#btn-captions")
        finally:
            await page.close()
