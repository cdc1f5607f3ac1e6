"""PocketSphinx engine for US English, with the model bundled in the pocketsphinx wheel.

Cepstral mean normalisation (CMN) matters a lot: pocketsphinx starts from the model's
initial mean, which is far from real microphone audio, and adapts it slowly, so the
first utterances of a stream come out poorly (measured on espeak-ng speech through
Opus: word error rate 0.69 with a fresh mean, 0.05 with a converged one). So each
stream keeps its own mean (``get_cmn``/``set_cmn`` around the pooled decoder), and until
it has one, the final result of the utterance comes from a second pass over its audio:
a features-only pass computes the utterance's own mean (``get_cmn(update=True)``), then a
search pass decodes with it; that mean becomes the stream's. This costs one extra pass
(real-time factor ~0.15) on a speaker's first utterance only.

A pocketsphinx ``Decoder`` holds its own copy of the acoustic and language models
(~0.25 s and tens of MB to load) and cannot share them. To keep "one model per worker"
true in practice, the factory keeps a pool of decoders: a stream borrows one at the
start of an utterance and gives it back at ``finish()``. Speakers rarely talk at the very
same moment, so a room of many speakers needs few decoders.
"""

from __future__ import annotations

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
_FILLERS = {"<s>", "</s>", "<sil>", "[NOISE]", "[SPEECH]"}


class _DecoderPool:
    def __init__(self, model: SpeechModel) -> None:
        self._model = model
        self._idle: list[Decoder] = []
        self.created = 0
        self.initial_cmn = ""

    def acquire(self) -> Decoder:
        if self._idle:
            return self._idle.pop()
        folder = self._model.path
        config = Config(
            hmm=str(folder / "en-us"),
            lm=str(folder / "en-us.lm.bin"),
            dict=str(folder / "cmudict-en-us.dict"),
            samprate=SAMPLE_RATE,
            loglevel="FATAL",
        )
        self.created += 1
        decoder = Decoder(config)
        self.initial_cmn = decoder.get_cmn()
        return decoder

    def release(self, decoder: Decoder) -> None:
        self._idle.append(decoder)


def _clean(word: str) -> str:
    # Alternative pronunciations are written "word(2)".
    return word.split("(", 1)[0]


#: The batch pass keeps at most this much of the first utterance (16 kHz s16: 30 s).
_MAX_BUFFER_BYTES = 30 * BYTES_PER_SECOND


class SphinxRecognizer(Recognizer):
    def __init__(self, pool: _DecoderPool, partial_every_s: float) -> None:
        self._pool = pool
        self._decoder: Decoder | None = None
        self._cmn: str | None = None  # this stream's cepstral mean, once known
        self._first_audio = bytearray()  # the utterance, while the mean is unknown
        self._partial_every = int(partial_every_s * BYTES_PER_SECOND)
        self._since_partial = 0
        self._last_partial = ""

    def accept_pcm16(self, samples: bytes) -> list[Result]:
        if self._decoder is None:
            self._decoder = self._pool.acquire()
            self._decoder.set_cmn(self._cmn or self._pool.initial_cmn)
            self._decoder.start_utt()
        self._decoder.process_raw(samples, False, False)
        if self._cmn is None and len(self._first_audio) < _MAX_BUFFER_BYTES:
            self._first_audio += samples
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

    def finish(self) -> list[Result]:
        decoder = self._decoder
        if decoder is None:
            return []
        self._decoder = None
        self._last_partial = ""
        self._since_partial = 0
        try:
            decoder.end_utt()
            if self._cmn is None and self._first_audio:
                audio = bytes(self._first_audio)
                self._first_audio.clear()
                decoder.start_utt()  # features only (fast): the utterance's own mean
                decoder.process_raw(audio, True, True)
                mean = decoder.get_cmn(True)
                decoder.end_utt()
                decoder.set_cmn(mean)
                decoder.start_utt()  # the real pass, with that mean
                decoder.process_raw(audio, False, True)
                decoder.end_utt()
            self._cmn = decoder.get_cmn()
            hyp = decoder.hyp()
            text = hyp.hypstr.strip() if hyp is not None else ""
            words = tuple(
                Word(_clean(s.word), s.start_frame / _FRAMES_PER_SECOND, s.end_frame / _FRAMES_PER_SECOND)
                for s in decoder.seg()
                if s.word not in _FILLERS
            )
        finally:
            self._pool.release(decoder)
        if not text:
            return []
        start = words[0].start if words else 0.0
        end = words[-1].end if words else 0.0
        return [Result(text=text, final=True, start=start, end=end, words=words)]

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

    @property
    def decoders_created(self) -> int:
        return self._pool.created

    def languages(self) -> list[str]:
        return [self._language]

    def create(self, language: str) -> Recognizer:
        return SphinxRecognizer(self._pool, self._partial_every_s)
