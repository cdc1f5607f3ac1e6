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
   mean learnt from the whole utterance (a features-only pass, then the search pass:
   what the engine does).

Usage: taskset -c 1 .venv/bin/python benchmarks/sphinx_settings.py [--json out.json]
Bounded: about 2 minutes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pocketsphinx import Config, Decoder

from captions.audio import OpusStreamDecoder
from captions.engines.sphinx_engine import SEARCH_SETTINGS
from captions.languages import bundled_models
from tests.captions.speech import opus_payloads, synthesize, word_error_rate

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


def pcm16k(text: str, voice: str) -> bytes:
    clip = opus_payloads(synthesize(text, voice), lead_s=0.15, tail_s=0.3)
    decoder = OpusStreamDecoder()
    return b"".join(decoder.decode(p, i * 960).pcm for i, p in enumerate(clip.payloads))


def decoder(settings: dict[str, Any]) -> Decoder:
    folder = bundled_models()["en"].path
    return Decoder(Config(hmm=str(folder / "en-us"), lm=str(folder / "en-us.lm.bin"),
                          dict=str(folder / "cmudict-en-us.dict"), samprate=16000,
                          loglevel="FATAL", **settings))


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


def learnt_mean(dec: Decoder, audio: bytes, initial: str) -> str:
    dec.set_cmn(initial)
    dec.start_utt()
    dec.process_raw(audio, True, True)  # features only
    mean: str = dec.get_cmn(True)
    dec.end_utt()
    return mean


def error_rate(pairs: list[tuple[str, str]]) -> float:
    words = sum(len(ref.split()) for ref, _ in pairs)
    return sum(word_error_rate(ref, hyp) * len(ref.split()) for ref, hyp in pairs) / words


def main(args: argparse.Namespace) -> dict[str, Any]:
    data = [(text, pcm16k(text, voice)) for voice in VOICES for text in SENTENCES]
    audio_s = sum(len(a) for _, a in data) / 32000
    print(f"{len(data)} utterances, {audio_s:.0f} s of audio")
    out: dict[str, Any] = {"utterances": len(data), "audio_s": round(audio_s, 1),
                           "search": [], "first_utterance": []}
    for name, settings in VARIANTS.items():
        dec = decoder(settings)
        for _, audio in data[:3]:
            search(dec, audio)
        started = time.process_time()
        pairs = [(text, search(dec, audio)) for text, audio in data]
        cpu = (time.process_time() - started) / audio_s
        row = {"settings": name, "cpu_s_per_audio_s": round(cpu, 3), "wer": round(error_rate(pairs), 3)}
        out["search"].append(row)
        print(json.dumps(row), flush=True)
    dec = decoder(dict(SEARCH_SETTINGS))
    initial = dec.get_cmn()
    for name, seconds in (("model's initial mean", 0.0), ("mean of the first 0.6 s", 0.6),
                          ("mean of the first 1.0 s", 1.0), ("mean of the whole utterance (used)", None)):
        pairs = []
        for text, audio in data:
            part = audio if seconds is None else audio[: int(seconds * 32000)]
            mean = initial if seconds == 0.0 else learnt_mean(dec, part, initial)
            pairs.append((text, search(dec, audio, mean)))
        row = {"first_utterance": name, "wer": round(error_rate(pairs), 3)}
        out["first_utterance"].append(row)
        print(json.dumps(row), flush=True)
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--json", type=Path)
    arguments = parser.parse_args()
    result = main(arguments)
    if arguments.json:
        arguments.json.write_text(json.dumps(result, indent=1))
