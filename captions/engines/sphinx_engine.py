"""PocketSphinx engine for US English, with the model bundled in the pocketsphinx wheel.

Cepstral mean normalisation (CMN) matters a lot: pocketsphinx starts from the model's
initial mean, which is far from real microphone audio, and adapts it slowly, so the
first utterances of a stream come out poorly. So each stream keeps its own mean
(``get_cmn``/``set_cmn`` around the pooled decoder). At the end of its first utterance a
features-only pass computes the utterance's own mean (``get_cmn(update=True)``), which
becomes the stream's, and a second search pass decodes the utterance again with it. The
second pass is skipped when it would make the final late (``finish(time_left_s)``): its
cost is estimated from what the live pass of the same audio just cost (same audio, same
machine, same load); the live pass's text then stands, and the mean is learnt all the same.
A new stream's live pass starts from the mean the worker learnt last (``learnt_cmn``: the
same codec path, often the same room), not the model's, so a first final without its
second pass is not poor.

The features-only pass runs with a one-word keyphrase search active (``MEAN_SEARCH``):
pocketsphinx searches the features it buffered at ``end_utt`` whatever ``no_search``
says, and with the full language model that cost a whole search pass (issue 13: 0.184
CPU-s per second of audio, as much as the second pass; a speaker's first final waited for
both and came 1.3-1.6 s after the speech, while the time estimate, made from the live
search speed alone, thought they fitted in 1 s). With the keyphrase search it costs ~0.02
and gives the same mean. (Dropping the mean pass and decoding once more from where the
live pass left the mean is as cheap but reads worse: 0.351 against 0.338 over 10
sentences, and misreads two of the tests' three; benchmarks/sphinx_first_pass_cost.py.)

Figures (benchmarks/sphinx_settings.py, 40 espeak-ng utterances in two voices through
Opus; measured while sox still dithered the synthetic audio, which moved word error
rates by up to ~0.07 between runs; the speech is now made without dither and repeats):
each utterance as a stream's first, 0.78 with the model's mean, 0.39 with the second
pass (a mean from only the first 0.6 s or 1.0 s, decoding once: 0.65 and 0.55); the
utterance after a first one had its second pass 0.30, after one that had no time for it
0.32 (the features-only pass; without it 0.35 against 0.20 in one run).
Search settings: at most 5,000 active HMMs per frame (default 30,000): 0.111 instead of
0.126 CPU-seconds per second of audio (12 % less) at a word error rate within noise
(0.348 against 0.341). Dropping the ``fwdflat`` pass too saves more (0.086) but its error
rate was higher in every run (0.369 here).

A pocketsphinx ``Decoder`` holds its own copy of the acoustic and language models
(~0.25 s and tens of MB to load) and cannot share them. To keep "one model per worker"
true in practice, the factory keeps a pool of decoders: a stream borrows one at the
start of an utterance and gives it back at ``finish()``. Speakers rarely talk at the very
same moment, so a room of many speakers needs few decoders; one spare is loaded whenever
the worker is idle, so a speaker never waits for a decoder to load unless several start
at the very same moment.
"""

from __future__ import annotations

import time

from pocketsphinx import Config, Decoder

from captions.engines.base import (
    BYTES_PER_SECOND,
    SAMPLE_RATE,
    EngineFactory,
    Recognizer,
    Result,
    Word,
)
from captions.languages import SpeechModel

_FRAMES_PER_SECOND = 100.0  # pocketsphinx's default frame rate (-frate 100)
#: Search settings (see the module docstring for what they cost and save).
SEARCH_SETTINGS: dict[str, bool | int] = {"maxhmmpf": 5000}
_FILLERS = {"<s>", "</s>", "<sil>", "[NOISE]", "[SPEECH]"}


def new_decoder(model: SpeechModel, settings: dict[str, bool | int]) -> Decoder:
    """A decoder of the bundled US-English model with these search settings."""
    folder = model.path
    return Decoder(Config(
        hmm=str(folder / "en-us"),
        lm=str(folder / "en-us.lm.bin"),
        dict=str(folder / "cmudict-en-us.dict"),
        samprate=SAMPLE_RATE,
        loglevel="FATAL",
        **settings,
    ))


#: A full-utterance pass costs about what the live pass and its ``end_utt`` cost together
#: (measured 0.9-1.5x on the same audio): estimated with this margin.
FULL_PASS_COST_FACTOR = 1.5
#: The search active during the features-only mean pass: one keyphrase, so that the search
#: pocketsphinx runs at end_utt over the buffered features costs next to nothing.
MEAN_SEARCH = "mean_only"
MEAN_KEYPHRASE = "oh"


class _DecoderPool:
    def __init__(self, model: SpeechModel) -> None:
        self._model = model
        self._idle: list[Decoder] = []
        self.initial_cmn = ""
        #: The latest stream mean learnt in this worker: where a new stream's live pass
        #: starts (same codec path, often the same room), instead of the model's mean.
        self.learnt_cmn: str | None = None

    def acquire(self) -> Decoder:
        if self._idle:
            return self._idle.pop()
        decoder = new_decoder(self._model, SEARCH_SETTINGS)
        decoder.add_keyphrase(MEAN_SEARCH, MEAN_KEYPHRASE)
        self.initial_cmn = decoder.get_cmn()
        return decoder

    def release(self, decoder: Decoder) -> None:
        self._idle.append(decoder)

    def keep_one_spare(self) -> None:
        """Load a decoder ahead of need (0.2 s, ~60-100 MB) when none is idle: the next
        speaker who starts while the others talk does not wait for it."""
        if not self._idle:
            self.release(self.acquire())


def _clean(word: str) -> str:
    # Alternative pronunciations are written "word(2)".
    return word.split("(", 1)[0]


def cheap_utterance_mean(decoder: Decoder, audio: bytes) -> str:
    """``utterance_mean`` with the keyphrase search active (a pool decoder has it), so the
    search at end_utt is next to free; the language model search is active again after."""
    decoder.activate_search(MEAN_SEARCH)
    try:
        return utterance_mean(decoder, audio)
    finally:
        decoder.activate_search()


def utterance_mean(decoder: Decoder, audio: bytes) -> str:
    """A features-only pass over ``audio``; the updated cepstral mean. With the language
    model search active it is not cheap: pocketsphinx searches the buffered features at
    ``end_utt`` (see ``cheap_utterance_mean``)."""
    decoder.start_utt()
    decoder.process_raw(audio, True, True)
    mean: str = decoder.get_cmn(True)
    decoder.end_utt()
    return mean


def _final(decoder: Decoder) -> Result | None:
    """The decoder's result for the utterance it just ended (None: nothing recognised)."""
    hyp = decoder.hyp()
    text = hyp.hypstr.strip() if hyp is not None else ""
    if not text:
        return None
    words = tuple(
        Word(_clean(s.word), s.start_frame / _FRAMES_PER_SECOND, s.end_frame / _FRAMES_PER_SECOND)
        for s in decoder.seg()
        if s.word not in _FILLERS
    )
    start = words[0].start if words else 0.0
    end = words[-1].end if words else 0.0
    return Result(text=text, final=True, start=start, end=end, words=words)


#: The batch pass keeps at most this much of the first utterance (16 kHz s16: 30 s).
_MAX_BUFFER_BYTES = 30 * BYTES_PER_SECOND


def _full_pass(decoder: Decoder, audio: bytes) -> Result | None:
    """Decode ``audio`` again as one whole utterance."""
    decoder.start_utt()
    decoder.process_raw(audio, False, True)
    decoder.end_utt()
    return _final(decoder)


class SphinxRecognizer(Recognizer):
    def __init__(self, pool: _DecoderPool, partial_every_s: float) -> None:
        self._pool = pool
        self._decoder: Decoder | None = None
        self._cmn: str | None = None  # this stream's cepstral mean, once known
        self._first_audio = bytearray()  # the utterance, while the mean is unknown
        self._live_s = 0.0  # what the live search of the first utterance cost (wall clock)
        self._partial_every = int(partial_every_s * BYTES_PER_SECOND)
        self._since_partial = 0
        self._last_partial = ""

    def accept_pcm16(self, samples: bytes) -> list[Result]:
        if self._decoder is None:
            self._decoder = self._pool.acquire()
            self._decoder.set_cmn(self._cmn or self._pool.learnt_cmn or self._pool.initial_cmn)
            self._decoder.start_utt()
        started = time.perf_counter()
        self._decoder.process_raw(samples, False, False)
        if self._cmn is None and len(self._first_audio) < _MAX_BUFFER_BYTES:
            self._first_audio += samples
            self._live_s += time.perf_counter() - started
        self._since_partial += len(samples)
        if self._since_partial < self._partial_every:
            return []
        self._since_partial = 0
        hyp = self._decoder.hyp()
        text = hyp.hypstr.strip() if hyp is not None else ""
        if not text or text == self._last_partial:
            return []
        self._last_partial = text
        return [Result(text=text, final=False)]

    def finish(self, time_left_s: float | None = None) -> list[Result]:
        decoder = self._decoder
        if decoder is None:
            return []
        started = time.perf_counter()
        deadline = None if time_left_s is None else started + time_left_s
        self._decoder = None
        self._last_partial = ""
        self._since_partial = 0
        try:
            decoder.end_utt()
            result = _final(decoder)  # the live pass's (the next pass clears it)
            audio = bytes(self._first_audio)  # empty once the stream has its mean
            self._first_audio.clear()
            if not audio:
                self._cmn = decoder.get_cmn()
            else:
                # The same audio again, at least as costly as its live search was.
                full_pass_s = FULL_PASS_COST_FACTOR * (self._live_s + time.perf_counter() - started)
                self._live_s = 0.0
                # Learnt either way (cheap): the stream's next utterances need it.
                mean = cheap_utterance_mean(decoder, audio)
                decoder.set_cmn(mean)
                if deadline is None or time.perf_counter() + full_pass_s <= deadline:
                    result = _full_pass(decoder, audio)  # the second pass, with its own mean
                # else (no time for it) the live pass's text stands
                self._cmn = self._pool.learnt_cmn = decoder.get_cmn()
        finally:
            self._pool.release(decoder)
        return [result] if result is not None else []

    def close(self) -> None:
        if self._decoder is not None:
            decoder, self._decoder = self._decoder, None
            decoder.end_utt()
            self._pool.release(decoder)


class SphinxFactory(EngineFactory):
    name = "pocketsphinx"

    def __init__(self, model: SpeechModel, partial_every_s: float = 0.2) -> None:
        self._language = model.language
        self._pool = _DecoderPool(model)
        self._partial_every_s = partial_every_s
        self._pool.release(self._pool.acquire())  # load now, not at the first word

    def languages(self) -> list[str]:
        return [self._language]

    def prepare(self) -> None:
        self._pool.keep_one_spare()

    def create(self, language: str) -> Recognizer:
        return SphinxRecognizer(self._pool, self._partial_every_s)
