"""Per-room caption state: who reads which language, the transcript, echo filter.

Plain data and bookkeeping, no I/O; owned by :class:`captions.service.CaptionService`.
The transcript lives only here, in memory, and goes with the room (``drop_room``).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from captions.dedup import EchoDeduplicator


@dataclass(frozen=True)
class CaptionEvent:
    """One caption for the listeners in ``listener_ids`` (all reading ``language``).

    A caption whose ``utterance_id`` was sent before replaces it (a partial by its
    final, or an echo re-attributed to the person who really spoke).
    """

    room_id: str
    speaker_id: str
    text: str
    language: str
    final: bool
    translated_from: str | None
    listener_ids: tuple[str, ...]
    utterance_id: str
    started_at: float  # time.monotonic() of the utterance's first loud audio at the server
    ended_at: float  # of its last loud audio (finals) / latest audio (partials)


@dataclass(frozen=True)
class CaptionWithdrawn:
    """The line ``utterance_id`` must go from these listeners' screens: its partials were
    shown, then it turned out to be another microphone's echo (or ended with no words)."""

    room_id: str
    utterance_id: str
    listener_ids: tuple[str, ...]


#: What the service hands to its ``on_event`` callback / ``events()`` reader.
CaptionsOutput = CaptionEvent | CaptionWithdrawn


@dataclass
class TranscriptEntry:
    utterance_id: str
    speaker_id: str
    language: str
    text: str
    started_at: float
    ended_at: float
    translations: dict[str, str] = field(default_factory=dict)


class RoomCaptions:
    def __init__(self, room_id: str, dedup: EchoDeduplicator, max_entries: int) -> None:
        self.room_id = room_id
        self.listeners: dict[str, str] = {}  # listener id -> read language
        self.transcript: deque[TranscriptEntry] = deque(maxlen=max_entries)
        self.dedup = dedup

    def readers_by_language(self) -> dict[str, tuple[str, ...]]:
        grouped: dict[str, list[str]] = {}
        for listener, language in sorted(self.listeners.items()):
            grouped.setdefault(language, []).append(listener)
        return {language: tuple(ids) for language, ids in grouped.items()}

    def readers_of(self, language: str) -> tuple[str, ...]:
        return tuple(sorted(k for k, v in self.listeners.items() if v == language))

    def entry(self, utterance_id: str) -> TranscriptEntry | None:
        for entry in reversed(self.transcript):
            if entry.utterance_id == utterance_id:
                return entry
        return None
