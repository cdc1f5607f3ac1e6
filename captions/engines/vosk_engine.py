"""Vosk (Kaldi) engine: one ``vosk.Model`` per language, one KaldiRecognizer per stream.

The model is shared by every recogniser created from the factory (vosk allows it: the
model is read-only after loading). ``PartialResult`` costs a search over the lattice, so
partials are computed only every ``partial_every`` bytes of audio, not per packet.
"""

from __future__ import annotations

import json
from typing import Any

import vosk

from captions.engines.base import (
    BYTES_PER_SECOND,
    SAMPLE_RATE,
    EngineFactory,
    Recognizer,
    Result,
    Word,
)
from captions.languages import SpeechModel

vosk.SetLogLevel(-1)


def _words(items: list[dict[str, Any]]) -> tuple[Word, ...]:
    return tuple(Word(str(w["word"]), float(w["start"]), float(w["end"])) for w in items)


def _result(body: str, final: bool) -> Result | None:
    data = json.loads(body)
    text = str(data.get("text" if final else "partial", "")).strip()
    if not text:
        return None
    words = _words(data.get("result", [])) if final else ()
    start = words[0].start if words else 0.0
    end = words[-1].end if words else 0.0
    return Result(text=text, final=final, start=start, end=end, words=words)


class VoskRecognizer(Recognizer):
    def __init__(self, model: vosk.Model, partial_every_s: float) -> None:
        self._model = model
        self._rec = vosk.KaldiRecognizer(model, SAMPLE_RATE)
        self._rec.SetWords(True)
        self._partial_every = int(partial_every_s * BYTES_PER_SECOND)
        self._since_partial = 0
        self._last_partial = ""

    def accept_pcm16(self, samples: bytes) -> list[Result]:
        if self._rec.AcceptWaveform(samples):
            # vosk's own endpointer cut a segment: report it as final now.
            self._last_partial = ""
            self._since_partial = 0
            found = _result(self._rec.Result(), final=True)
            return [found] if found else []
        self._since_partial += len(samples)
        if self._since_partial < self._partial_every:
            return []
        self._since_partial = 0
        found = _result(self._rec.PartialResult(), final=False)
        if found is None or found.text == self._last_partial:
            return []
        self._last_partial = found.text
        return [found]

    def finish(self, time_left_s: float | None = None) -> list[Result]:
        found = _result(self._rec.FinalResult(), final=True)  # also resets the recogniser
        self._last_partial = ""
        self._since_partial = 0
        return [found] if found else []


class VoskFactory(EngineFactory):
    name = "vosk"

    def __init__(self, model: SpeechModel, partial_every_s: float = 0.2) -> None:
        self._language = model.language
        self._model = vosk.Model(str(model.path))
        self._partial_every_s = partial_every_s

    def languages(self) -> list[str]:
        return [self._language]

    def create(self, language: str) -> Recognizer:
        return VoskRecognizer(self._model, self._partial_every_s)
