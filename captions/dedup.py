"""Echo de-duplication of captions (sans-I/O: times are passed in).

One person's loudspeaker is heard by another participant's microphone, so the same
words are recognised twice, from two speakers. When two utterances of different
speakers in the same room started within ``window_s`` of each other and their
normalised texts are similar (``difflib`` ratio >= ``similarity``), only one is shown.

Which speaker keeps it: **the one whose utterance started first** (as received by the
server); the louder one only breaks a tie (starts within ``tie_s``). Why: the echo
travels speaker -> server -> listener -> loudspeaker -> microphone -> server, so at the
server it always starts at least one network round trip plus the audio buffering of two
devices (typically 100-300 ms) after the original. Loudness is a weaker clue: automatic
gain control in browsers lifts a faint echo, and a speaker far from their microphone can
be quieter than their own echo on a laptop next to the loudspeaker.

Finals normally arrive in start order (the echo also ends later), so the first caption
shown is kept and the echo dropped. If a final that started earlier arrives after its
echo was already shown, the decision says ``supersedes``: the service re-sends the
caption under the echo's ``utterance_id`` with the right speaker, and clients replace it.
Partials are filtered the same way against other speakers' open or recent utterances.
"""

from __future__ import annotations

import re
import unicodedata
from collections import deque
from dataclasses import dataclass
from difflib import SequenceMatcher

_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)
_SPACES = re.compile(r"\s+")


def normalise_text(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    return _SPACES.sub(" ", _PUNCT.sub(" ", text)).strip()


#: Echo recognised by the second microphone often diverges towards the end of the sentence
#: (quieter, reverberant); the same first words, in the same 2 s, are the same utterance.
SAME_BEGINNING_WORDS = 5
SAME_BEGINNING_SHARE = 0.6


def same_beginning(a: str, b: str) -> bool:
    """Both texts start with the same words: at least 5, and 60 % of the shorter text."""
    wa, wb = normalise_text(a).split(), normalise_text(b).split()
    shared = 0
    for x, y in zip(wa, wb, strict=False):
        if x != y:
            break
        shared += 1
    return shared >= SAME_BEGINNING_WORDS and shared >= SAME_BEGINNING_SHARE * min(len(wa), len(wb))


def similarity(a: str, b: str) -> float:
    na, nb = normalise_text(a), normalise_text(b)
    if not na or not nb:
        return 0.0
    return SequenceMatcher(None, na, nb, autojunk=False).ratio()


@dataclass(frozen=True)
class Heard:
    """One recognised utterance (final) or its latest partial."""

    utterance_id: str
    speaker_id: str
    text: str
    started_at: float
    level_dbfs: float


@dataclass(frozen=True)
class DedupDecision:
    emit: bool
    #: The caption this one duplicates (when ``emit`` is False).
    duplicate_of: Heard | None = None
    #: An already shown caption that was the echo of this one (re-send under its id).
    supersedes: Heard | None = None


class EchoDeduplicator:
    """Per room. ``offer_final`` / ``offer_partial`` for each result, in arrival order."""

    def __init__(self, window_s: float, min_similarity: float, tie_s: float = 0.05) -> None:
        self._window = window_s
        self._min_similarity = min_similarity
        self._tie = tie_s
        self._finals: deque[tuple[float, Heard]] = deque()  # (decided at, heard)
        self._partials: dict[str, tuple[float, Heard]] = {}  # speaker -> latest partial
        self.suppressed = 0
        self.reattributed = 0

    def _prune(self, now: float) -> None:
        while self._finals and now - self._finals[0][0] > self._window:
            self._finals.popleft()
        for speaker, (at, _) in list(self._partials.items()):
            if now - at > self._window:
                del self._partials[speaker]

    def _first(self, a: Heard, b: Heard) -> bool:
        """Does ``a`` win over ``b`` (started first; louder on a tie)?"""
        if abs(a.started_at - b.started_at) <= self._tie:
            return a.level_dbfs > b.level_dbfs
        return a.started_at < b.started_at

    def _same_words(self, a: Heard, b: Heard) -> bool:
        return (
            a.speaker_id != b.speaker_id
            and abs(a.started_at - b.started_at) <= self._window
            and (similarity(a.text, b.text) >= self._min_similarity or same_beginning(a.text, b.text))
        )

    def offer_final(self, heard: Heard, now: float) -> DedupDecision:
        self._prune(now)
        self._partials.pop(heard.speaker_id, None)
        for index, (_, shown) in enumerate(self._finals):
            if not self._same_words(heard, shown):
                continue
            if self._first(heard, shown):
                self.reattributed += 1
                replaced = Heard(shown.utterance_id, heard.speaker_id, heard.text,
                                 heard.started_at, heard.level_dbfs)
                self._finals[index] = (now, replaced)
                return DedupDecision(emit=True, supersedes=shown)
            self.suppressed += 1
            return DedupDecision(emit=False, duplicate_of=shown)
        self._finals.append((now, heard))
        return DedupDecision(emit=True)

    def offer_partial(self, heard: Heard, now: float) -> DedupDecision:
        self._prune(now)
        self._partials[heard.speaker_id] = (now, heard)
        others = [h for _, h in self._finals] + [
            h for s, (_, h) in self._partials.items() if s != heard.speaker_id
        ]
        for other in others:
            if self._same_words(heard, other) and self._first(other, heard):
                return DedupDecision(emit=False, duplicate_of=other)
        return DedupDecision(emit=True)

    def forget_speaker(self, speaker_id: str) -> None:
        self._partials.pop(speaker_id, None)
