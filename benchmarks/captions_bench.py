"""Captions benchmark: espeak-ng speech through the real CaptionService, pinned to one CPU.

Measures, with every process of the captions path (event loop, recognition worker,
translation worker) pinned to one CPU core with os.sched_setaffinity:

1. latency: one speaker says N English sentences at real time; time from the end of
   each utterance's speech (the packet holding its last loud sample is handed to the
   tap) to the final caption event (p50/p95), and the word error rate over them. A
   speaker's first utterance is slower (pocketsphinx decodes it twice to learn the
   stream's cepstral mean, see captions/engines/sphinx_engine.py): reported apart;
2. translation: the same finals also translated for a French reader by an argos package
   of the size of real ones (6+6 layers, 512 wide, 32k vocabulary, int8; built offline
   with random weights, see tests/captions/build_argos_model.py); added latency =
   French event time - English event time of the same utterance (p50/p95);
3. capacity, two ways, into one recognition worker, p95 over utterances after each
   speaker's first, target p95 <= 1.0 s with no packet dropped and no final missing:
   - "simultaneous": K speakers all talking at once without pause (worst case): their
     first utterances together (cold start, reported apart), a pause, then three each;
   - "conversation": K participants whose microphones all send audio all the time
     (every stream is decoded and goes through the VAD) while they take turns to speak,
     which is what a consultation looks like.

Usage: .venv/bin/python benchmarks/captions_bench.py [--cpu 0] [--sentences 8]
       [--speakers 2,4,6] [--conversation 6,8,12] [--json out.json]
Bounded: about 4 minutes on the development machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from captions.config import CaptionsConfig
from captions.room_state import CaptionEvent, CaptionsOutput
from captions.service import CaptionService
from captions.translate import install_model
from tests.captions.build_argos_model import BASE, BENCH_PHRASE, build_package
from tests.captions.speech import (
    CLINIC_SENTENCES,
    Clip,
    Playback,
    opus_payloads,
    play,
    speech_clip,
    word_error_rate,
)

SENTENCES = CLINIC_SENTENCES
LATENCY_TARGET_S = 1.0


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


@dataclass
class Recorder:
    events: list[tuple[float, CaptionEvent]] = field(default_factory=list)

    def __call__(self, event: CaptionsOutput) -> None:
        if isinstance(event, CaptionEvent):  # withdrawals are not measured
            self.events.append((time.monotonic(), event))

    def finals(self, speaker: str, language: str) -> list[tuple[float, CaptionEvent]]:
        return [(t, e) for t, e in self.events
                if e.final and e.speaker_id == speaker and e.language == language]


def final_after(recorder: Recorder, speaker: str, since: float) -> float | None:
    for at, _event in recorder.finals(speaker, "en"):
        if at >= since:
            return at - since
    return None


async def say(tap: Any, clips: list[Clip]) -> list[float]:
    """Play clips one after the other; returns when each one's speech ended."""
    ends = []
    for clip in clips:
        playback = Playback(tap, clip)
        await play([playback])
        ends.append(playback.speech_ended_at or time.monotonic())
    return ends


async def latency_and_translation(config: CaptionsConfig, clips: list[Clip],
                                  texts: list[str]) -> dict[str, Any]:
    recorder = Recorder()
    async with CaptionService(config, on_event=recorder) as service:
        await service.wait_ready()
        tap = service.attach_speaker("bench", "speaker", "mic", "en")
        service.set_listener("bench", "reads-en", "en")
        service.set_listener("bench", "reads-fr", "fr")
        ends = await say(tap, clips)
        await asyncio.sleep(2.0)
        first = final_after(recorder, "speaker", ends[0])
        latencies = [lat for end in ends[1:] if (lat := final_after(recorder, "speaker", end)) is not None]
        english = recorder.finals("speaker", "en")
        french = {e.utterance_id: t for t, e in recorder.finals("speaker", "fr")}
        added = [french[e.utterance_id] - t for t, e in english if e.utterance_id in french]
        heard = " ".join(e.text for _, e in english)
        return {
            "utterances": len(clips),
            "finals": len(english),
            "first_utterance_latency_s": round(first, 3) if first is not None else None,
            "final_latency_p50_s": round(percentile(latencies, 50), 3),
            "final_latency_p95_s": round(percentile(latencies, 95), 3),
            "final_latency_max_s": round(max(latencies), 3) if latencies else None,
            "missing_finals": len(clips) - 1 - len(latencies),
            "translation_added_p50_s": round(percentile(added, 50), 3),
            "translation_added_p95_s": round(percentile(added, 95), 3),
            "translation_worker_p95_s": round(percentile(service.translation_seconds, 95), 3),
            "translated": len(added),
            "wer": round(word_error_rate(" ".join(texts), heard), 3),
            "heard": [e.text for _, e in english],
        }


async def capacity(config: CaptionsConfig, clips: list[Clip], speakers: int) -> dict[str, Any]:
    recorder = Recorder()
    async with CaptionService(config, on_event=recorder) as service:
        await service.wait_ready()
        taps = [service.attach_speaker("bench", f"s{i}", "mic", "en") for i in range(speakers)]
        service.set_listener("bench", "reads-en", "en")
        rotated = [clips[i % len(clips):] + clips[:i % len(clips)] for i in range(speakers)]
        started = time.process_time()
        wall = time.monotonic()
        # Cold start: everybody's first utterance at the same instant (the worker loads a
        # decoder per speaker and decodes each first utterance twice, when it has time).
        cold_ends = await asyncio.gather(*(say(tap, mine[:1]) for tap, mine in zip(taps, rotated, strict=True)))
        await asyncio.sleep(2.5)
        cold = [final_after(recorder, f"s{i}", ends[0]) for i, ends in enumerate(cold_ends)]
        # Then three utterances each, all talking at once without pause: what is measured.
        ends = await asyncio.gather(*(say(tap, mine[1:4]) for tap, mine in zip(taps, rotated, strict=True)))
        await asyncio.sleep(2.5)
        latencies: list[float] = []
        by_speaker: list[list[float | None]] = []
        missing = 0
        for index, speaker_ends in enumerate(ends):
            by_speaker.append([])
            for end in speaker_ends:
                lat = final_after(recorder, f"s{index}", end)
                by_speaker[-1].append(round(lat, 2) if lat is not None else None)
                if lat is None:
                    missing += 1
                else:
                    latencies.append(lat)
        dump = service.dump()
        dropped = sum(s["dropped_packets"] for s in dump["speakers"])
        return {
            "mode": "simultaneous",
            "speakers": speakers,
            "final_latency_p95_s": round(percentile(latencies, 95), 3),
            "latencies_by_speaker_s": by_speaker,
            "cold_start_latency_max_s": max((c for c in cold if c is not None), default=None),
            "cold_start_missing": sum(c is None for c in cold),
            "missing_finals": missing,
            "dropped_packets": dropped,
            "event_loop_cpu_s": round(time.process_time() - started, 2),
            "wall_s": round(time.monotonic() - wall, 1),
            "ok": dropped == 0 and missing == 0 and percentile(latencies, 95) <= LATENCY_TARGET_S,
        }


async def conversation(config: CaptionsConfig, clips: list[Clip], silence: Clip,
                       participants: int, turns: int) -> dict[str, Any]:
    recorder = Recorder()
    async with CaptionService(config, on_event=recorder) as service:
        await service.wait_ready()
        taps = [service.attach_speaker("bench", f"s{i}", "mic", "en") for i in range(participants)]
        service.set_listener("bench", "reads-en", "en")
        latencies: list[float] = []
        missing = 0
        spoken: set[int] = set()
        measured: list[tuple[int, float]] = []
        started = time.process_time()
        wall = time.monotonic()
        for turn in range(turns):
            speaker = turn % participants
            clip = clips[turn % len(clips)]
            quiet = Clip(silence.payloads[: len(clip.payloads)], -1)
            playbacks = [Playback(tap, clip if i == speaker else quiet, first_timestamp=turn * 10**6)
                         for i, tap in enumerate(taps)]
            await play(playbacks)
            end = playbacks[speaker].speech_ended_at or time.monotonic()
            if speaker in spoken:  # a participant's first utterance is the warm-up
                measured.append((speaker, end))
            spoken.add(speaker)
        await asyncio.sleep(2.0)
        for speaker, end in measured:
            lat = final_after(recorder, f"s{speaker}", end)
            if lat is None:
                missing += 1
            else:
                latencies.append(lat)
        dropped = sum(s["dropped_packets"] for s in service.dump()["speakers"])
        p95 = percentile(latencies, 95)
        return {
            "mode": "conversation",
            "speakers": participants,
            "turns": turns,
            "measured_utterances": len(latencies),
            "final_latency_p95_s": round(p95, 3),
            "missing_finals": missing,
            "dropped_packets": dropped,
            "event_loop_cpu_s": round(time.process_time() - started, 2),
            "wall_s": round(time.monotonic() - wall, 1),
            "ok": dropped == 0 and missing == 0 and p95 <= LATENCY_TARGET_S,
        }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    os.sched_setaffinity(0, {args.cpu})  # inherited by the worker processes
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        package = build_package("en", "fr", folder / "files", BASE, phrase=BENCH_PHRASE)
        install_model(package, folder / "translate")
        config = CaptionsConfig(models_folder=folder / "vosk", translation_folder=folder / "translate",
                                preload_languages=("en",))
        texts = SENTENCES[: args.sentences]
        clips = [await speech_clip(text, tail_s=1.0) for text in texts]
        report: dict[str, Any] = {"cpu": args.cpu, "cpus_online": os.cpu_count(),
                                  "load_average_at_start": os.getloadavg()}
        report["latency"] = await latency_and_translation(config, clips, texts)
        print(json.dumps(report["latency"], indent=1), flush=True)
        single = CaptionsConfig(models_folder=config.models_folder, translation_folder=config.translation_folder,
                                preload_languages=("en",), translation_workers=0)
        report["capacity"] = []
        for count in args.speakers:
            result = await capacity(single, clips, count)
            print(json.dumps(result), flush=True)
            report["capacity"].append(result)
            if not result["ok"]:
                break
        passing = [r["speakers"] for r in report["capacity"] if r["ok"]]
        report["simultaneous_speakers_per_core"] = max(passing) if passing else 0
        silence = await asyncio.to_thread(opus_payloads, np.zeros(48000 * 8, np.int16), 0.0, 0.0)
        report["conversation"] = []
        for count in args.conversation:
            result = await conversation(single, clips, silence, count, turns=count + 8)
            print(json.dumps(result), flush=True)
            report["conversation"].append(result)
            if not result["ok"]:
                break
        passing = [r["speakers"] for r in report["conversation"] if r["ok"]]
        report["conversation_speakers_per_core"] = max(passing) if passing else 0
        report["load_average_at_end"] = os.getloadavg()
        return report


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--cpu", type=int, default=0)
    parser.add_argument("--sentences", type=int, default=8)
    parser.add_argument("--speakers", type=lambda s: [int(x) for x in s.split(",") if x],
                        default=[2, 4, 6])
    parser.add_argument("--conversation", type=lambda s: [int(x) for x in s.split(",") if x],
                        default=[6, 8, 12])
    parser.add_argument("--json", type=Path)
    arguments = parser.parse_args()
    result = asyncio.run(main(arguments))
    print("speakers per core: simultaneous", result["simultaneous_speakers_per_core"],
          "conversation", result["conversation_speakers_per_core"])
    if arguments.json:
        arguments.json.write_text(json.dumps(result, indent=1))
