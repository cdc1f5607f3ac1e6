"""The interface every speech engine implements.

A :class:`Recognizer` is one speaker's stream: 16 kHz mono signed 16-bit PCM goes in,
partial and final :class:`Result` objects come out. ``finish()`` ends the current
utterance (the VAD decided speech stopped): it returns the final result and leaves the
recognizer ready for the next utterance. An :class:`EngineFactory` holds a loaded model
(loaded once per worker process) and creates recognizers for every stream of its language.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

SAMPLE_RATE = 16000
BYTES_PER_SECOND = SAMPLE_RATE * 2


@dataclass(frozen=True)
class Word:
    text: str
    start: float  # seconds from the start of the utterance's audio
    end: float


@dataclass(frozen=True)
class Result:
    """Recognised text; ``final`` once the utterance is over (partials may change)."""

    text: str
    final: bool
    start: float = 0.0  # seconds, from the start of the utterance's audio
    end: float = 0.0
    words: tuple[Word, ...] = ()


class Recognizer(abc.ABC):
    """One stream's recogniser. Not thread-safe; used from one worker thread."""

    @abc.abstractmethod
    def accept_pcm16(self, samples: bytes) -> list[Result]:
        """Feed audio; returns partial results (and finals if the engine cut itself)."""

    @abc.abstractmethod
    def finish(self, time_left_s: float | None = None) -> list[Result]:
        """End the utterance: the final result (empty list if nothing was recognised).

        ``time_left_s``: how long the final may still take to be on time (None: no
        limit). Optional extra work (an engine's second pass) is skipped when it would
        not fit, so a busy worker keeps every stream's captions on time.
        """

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (a pooled decoder goes back to its pool)."""


class EngineFactory(abc.ABC):
    """A loaded model of one language and engine."""

    name: str = ""

    @abc.abstractmethod
    def languages(self) -> list[str]:
        """Language codes this factory recognises."""

    @abc.abstractmethod
    def create(self, language: str) -> Recognizer:
        """A new recogniser sharing this factory's model."""

    def prepare(self) -> None:  # noqa: B027 - optional hook
        """Called when the worker is idle: do now what would otherwise delay speech later."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Free the model."""
