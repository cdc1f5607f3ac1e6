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

Partials are held back more readily than finals, because partials cannot be compared:
an echo's first partials are too short ("how are" against the original's "how are you
feeling"), and a stream's first utterance is recognised poorly until its cepstral mean is
learnt, so the two microphones' partials of the same speech read differently. So **a
partial of an utterance that started within the window after another speaker's utterance
(still open, or final) is not shown**; its final decides (shown unless it is the same
words). The workers report when an utterance starts (``speech_began``), so the original
is known before it has any words. Price: when two people really start talking within 2 s
of each other, the later one's words appear with their final only. A line whose partials
were shown and which then turns out to be an echo (or ends with no words) is
**withdrawn**: the decision carries its ``utterance_id`` and clients are told to remove it.
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
    #: A line clients were shown (partials) that must go: ``caption_withdrawn`` it.
    withdraw: str | None = None


class EchoDeduplicator:
    """Per room. ``speech_began`` when an utterance starts, then ``offer_partial`` /
    ``offer_final`` (or ``ended_without_words``) for each result, in arrival order."""

    #: An open utterance whose final never came is forgotten after this (VAD cuts at 15 s).
    OPEN_FOR_AT_MOST_S = 30.0

    def __init__(self, window_s: float, min_similarity: float, tie_s: float = 0.05) -> None:
        self._window = window_s
        self._min_similarity = min_similarity
        self._tie = tie_s
        self._finals: deque[tuple[float, Heard]] = deque()  # (decided at, heard)
        #: speaker -> (began at, latest partial or the start of their open utterance)
        self._open: dict[str, tuple[float, Heard]] = {}
        #: speaker -> the utterance whose partials clients were shown
        self._shown: dict[str, str] = {}
        self.suppressed = 0
        self.reattributed = 0
        self.partials_held = 0
        self.withdrawn = 0

    def _prune(self, now: float) -> None:
        while self._finals and now - self._finals[0][0] > self._window:
            self._finals.popleft()
        for speaker, (at, _) in list(self._open.items()):
            if now - at > self.OPEN_FOR_AT_MOST_S:
                del self._open[speaker]

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

    def _withdraw_shown(self, speaker_id: str, utterance_id: str) -> str | None:
        if self._shown.get(speaker_id) != utterance_id:
            return None
        del self._shown[speaker_id]
        self.withdrawn += 1
        return utterance_id

    def speech_began(self, heard: Heard, now: float) -> None:
        """A speaker's utterance started (no words yet): later overlapping partials wait."""
        self._prune(now)
        self._open[heard.speaker_id] = (now, heard)

    def offer_final(self, heard: Heard, now: float) -> DedupDecision:
        self._prune(now)
        self._open.pop(heard.speaker_id, None)
        shown = self._shown.get(heard.speaker_id) == heard.utterance_id
        if shown:
            del self._shown[heard.speaker_id]
        for index, (_, earlier) in enumerate(self._finals):
            if not self._same_words(heard, earlier):
                continue
            if self._first(heard, earlier):
                self.reattributed += 1
                replaced = Heard(earlier.utterance_id, heard.speaker_id, heard.text,
                                 heard.started_at, heard.level_dbfs)
                self._finals[index] = (now, replaced)
                # The line moves to the echo's id: this utterance's own partial line goes.
                if shown:
                    self.withdrawn += 1
                return DedupDecision(emit=True, supersedes=earlier,
                                     withdraw=heard.utterance_id if shown else None)
            self.suppressed += 1
            if shown:
                self.withdrawn += 1
            return DedupDecision(emit=False, duplicate_of=earlier,
                                 withdraw=heard.utterance_id if shown else None)
        self._finals.append((now, heard))
        return DedupDecision(emit=True)

    def ended_without_words(self, speaker_id: str, utterance_id: str, now: float) -> DedupDecision:
        """The utterance ended and nothing was recognised: its partial line (if any) goes."""
        self._prune(now)
        self._open.pop(speaker_id, None)
        return DedupDecision(emit=False, withdraw=self._withdraw_shown(speaker_id, utterance_id))

    def offer_partial(self, heard: Heard, now: float) -> DedupDecision:
        self._prune(now)
        began = self._open.get(heard.speaker_id)
        self._open[heard.speaker_id] = (began[0] if began else now, heard)
        others = [h for _, h in self._finals] + [
            h for s, (_, h) in self._open.items() if s != heard.speaker_id
        ]
        for other in others:
            if (other.speaker_id != heard.speaker_id
                    and abs(other.started_at - heard.started_at) <= self._window
                    and self._first(other, heard)):
                self.partials_held += 1
                return DedupDecision(emit=False, duplicate_of=other,
                                     withdraw=self._withdraw_shown(heard.speaker_id, heard.utterance_id))
        self._shown[heard.speaker_id] = heard.utterance_id
        return DedupDecision(emit=True)

    def forget_speaker(self, speaker_id: str) -> None:
        self._open.pop(speaker_id, None)
        self._shown.pop(speaker_id, None)
