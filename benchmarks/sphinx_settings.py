"""PocketSphinx settings: CPU per second of audio and word error rate, on espeak-ng speech.

Why captions/engines/sphinx_engine.py uses the search settings and the cepstral-mean
strategy it does. 20 English sentences in two espeak-ng voices (40 utterances), each
through Opus and back to 16 kHz mono the way the recognition worker hears them.

1. search settings: one decoder whose cepstral mean has converged (three warm-up
   utterances), every utterance decoded in 200 ms chunks with a partial every 200 ms;
   CPU seconds (this process) per second of audio, and the word error rate.
2. first utterance of a stream (the cepstral mean not learnt yet), for every one of the
   40 utterances as if it were the first: decoded with the model's initial mean; with a
   mean learnt from the first 0.6 s / 1.0 s of the utterance (one search pass); with a
   mean learnt from the whole utterance (the engine's own ``finish()``: a features-only
   pass, then the search pass);
3. the utterance after the first, per voice five streams of four utterances: its word
   error rate when the first one had its second pass, and when there was no time for it;
4. chunk size: six streams talking at once through one in-process RecognitionWorker,
   speech handed over in 20 ms and in 200 ms chunks; CPU seconds per stream-second.

Usage: taskset -c 1 .venv/bin/python benchmarks/sphinx_settings.py [--json out.json]
Bounded: about 4 minutes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pocketsphinx import Decoder

from captions.config import VadConfig
from captions.engines.sphinx_engine import (
    SEARCH_SETTINGS,
    SphinxFactory,
    new_decoder,
    utterance_mean,
)
from captions.languages import bundled_models
from captions.recognition_worker import RecognitionWorker
from captions.worker_protocol import AudioPacket, OpenStream, RecognitionSettings
from tests.captions.speech import opus_payloads, pcm16k, synthesize, word_error_rate

SENTENCES = [
    "how are you feeling today", "please take one tablet twice a day after meals",
    "do you have any allergies to medicine", "the pain started three days ago",
    "can you show me where it hurts", "we will do a blood test tomorrow morning",
    "i would like to see you again next week", "have you slept well since the last visit",
    "drink plenty of water and rest at home", "the results of your test are normal",
    "does it hurt when you breathe in", "i will send the prescription to your pharmacy",
    "have you had a fever in the last few days", "please tell me about your symptoms",
    "my head hurts in the morning", "i feel tired all the time",
    "we need to check your blood pressure", "is anyone else at home with you",
    "you can call the clinic if it gets worse", "take this medicine with food",
]
VOICES = ("en-us+f2", "en-us+m3")
CHUNK = 6400  # 200 ms of 16 kHz s16
VARIANTS: dict[str, dict[str, Any]] = {
    "pocketsphinx defaults": {},
    "no fwdflat": {"fwdflat": False},
    "at most 5,000 HMMs per frame (used)": dict(SEARCH_SETTINGS),
    "no fwdflat, 3,000 HMMs": {"fwdflat": False, "maxhmmpf": 3000},
    "no fwdflat, 5,000 HMMs": {"fwdflat": False, "maxhmmpf": 5000},
    "no fwdflat, ds 2": {"fwdflat": False, "ds": 2},
    "no fwdflat, topn 2": {"fwdflat": False, "topn": 2},
}


def search(dec: Decoder, audio: bytes, mean: str | None = None) -> str:
    if mean is not None:
        dec.set_cmn(mean)
    dec.start_utt()
    for index in range(0, len(audio), CHUNK):
        dec.process_raw(audio[index:index + CHUNK], False, False)
        dec.hyp()  # a partial, as the engine asks for
    dec.end_utt()
    hyp = dec.hyp()
    return hyp.hypstr if hyp is not None else ""


def say(recognizer: Any, audio: bytes, time_left_s: float | None = None) -> str:
    """One utterance through the engine's recogniser, in 200 ms chunks."""
    for index in range(0, len(audio), CHUNK):
        recognizer.accept_pcm16(audio[index:index + CHUNK])
    results = recognizer.finish(time_left_s)
    return results[0].text if results else ""


class _Outbox(list[Any]):
    def put(self, item: Any) -> None:
        self.append(item)


def chunk_cpu(chunk_s: float, streams: int = 6) -> float:
    """CPU seconds per stream-second: ``streams`` speakers at once through one worker."""
    model = bundled_models()["en"]
    worker = RecognitionWorker("bench", RecognitionSettings(VadConfig(), 0.25, (model,), chunk_s), _Outbox())
    for i in range(streams):
        worker.handle(OpenStream(f"s{i}", model))
    clips = [opus_payloads(synthesize(text)) for text in SENTENCES[:6]]
    packets = [p for clip in clips for p in clip.payloads]
    warm = len(clips[0].payloads)  # everybody's first utterance: decoders, means
    started = 0.0
    for index, payload in enumerate(packets):
        if index == warm:
            started = time.process_time()
        for i in range(streams):
            worker.handle(AudioPacket(f"s{i}", payload, index * 960, index * 0.02))
    worker.close()
    return (time.process_time() - started) / ((len(packets) - warm) * 0.02 * streams)


def error_rate(pairs: list[tuple[str, str]]) -> float:
    words = sum(len(ref.split()) for ref, _ in pairs)
    return sum(word_error_rate(ref, hyp) * len(ref.split()) for ref, hyp in pairs) / words


def main(args: argparse.Namespace) -> dict[str, Any]:
    data = [(text, pcm16k(text, voice, tail_s=0.3)) for voice in VOICES for text in SENTENCES]
    audio_s = sum(len(a) for _, a in data) / 32000
    print(f"{len(data)} utterances, {audio_s:.0f} s of audio")
    out: dict[str, Any] = {"utterances": len(data), "audio_s": round(audio_s, 1),
                           "search": [], "first_utterance": []}
    for name, settings in VARIANTS.items():
        dec = new_decoder(bundled_models()["en"], settings)
        for _, audio in data[:3]:
            search(dec, audio)
        started = time.process_time()
        pairs = [(text, search(dec, audio)) for text, audio in data]
        cpu = (time.process_time() - started) / audio_s
        row = {"settings": name, "cpu_s_per_audio_s": round(cpu, 3), "wer": round(error_rate(pairs), 3)}
        out["search"].append(row)
        print(json.dumps(row), flush=True)
    factory = SphinxFactory(bundled_models()["en"])
    dec = new_decoder(bundled_models()["en"], SEARCH_SETTINGS)
    initial = dec.get_cmn()
    rows: list[tuple[str, Any]] = [
        ("model's initial mean (no time for the second pass)", lambda audio: say(factory.create("en"), audio, 0.0)),
        ("mean of the first 0.6 s", 0.6),
        ("mean of the first 1.0 s", 1.0),
        ("mean of the whole utterance, second pass (used)", lambda audio: say(factory.create("en"), audio)),
    ]
    for name, how in rows:
        pairs = []
        for text, audio in data:
            if callable(how):
                heard = how(audio)
            else:
                dec.set_cmn(initial)
                heard = search(dec, audio, utterance_mean(dec, audio[: int(how * 32000)]))
            pairs.append((text, heard))
        row = {"first_utterance": name, "wer": round(error_rate(pairs), 3)}
        out["first_utterance"].append(row)
        print(json.dumps(row), flush=True)
    out["after_first"] = []
    for name, time_left in (("first utterance had its second pass", None), ("no time for it", 0.0)):
        pairs = []
        for voice in range(len(VOICES)):
            mine = data[voice * len(SENTENCES):(voice + 1) * len(SENTENCES)]
            for start in range(0, len(mine), 4):
                recognizer = factory.create("en")
                say(recognizer, mine[start][1], time_left)
                text, audio = mine[start + 1]
                pairs.append((text, say(recognizer, audio)))
        row = {"after_first": name, "wer": round(error_rate(pairs), 3)}
        out["after_first"].append(row)
        print(json.dumps(row), flush=True)
    out["chunks"] = []
    for chunk_s in (0.02, 0.2):
        row = {"chunk_s": chunk_s, "streams": 6, "cpu_s_per_stream_s": round(chunk_cpu(chunk_s), 3)}
        out["chunks"].append(row)
        print(json.dumps(row), flush=True)
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--json", type=Path)
    arguments = parser.parse_args()
    result = main(arguments)
    if arguments.json:
        arguments.json.write_text(json.dumps(result, indent=1))
