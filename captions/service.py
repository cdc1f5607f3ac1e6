"""CaptionService: the asyncio-facing side of captions (thin shell over the workers).

The control layer (composition root) uses it like this::

    service = CaptionService(CaptionsConfig(...), on_event=send_to_listeners)
    await service.start()
    tap = service.attach_speaker(room, participant, producer, "en")   # an sfu AudioTap
    service.set_listener(room, listener, "fr")    # None: captions off for them
    ...
    service.drop_room(room)          # forget the room's transcript and state
    await service.close()

Flow: ``tap.on_packet`` (event loop, never blocks) -> bounded queue of the speaker's
recognition worker -> decode, VAD, recognition (worker process) -> results back on the
loop -> echo filter -> :class:`CaptionEvent` per read language: the original text to
those who read the spoken language (partials and finals), and for every other language
that somebody in the room reads, the final text sent to a translation worker first.

Work follows listeners: packets are not even queued while nobody in the room reads
captions, and a language nobody reads any more is not translated into. Everything
about a room (transcript included) lives only in this process's memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from captions.config import CaptionsConfig
from captions.dedup import EchoDeduplicator, Heard
from captions.errors import ServiceClosed, WorkerDied
from captions.languages import SpeechCatalog, SpeechModel
from captions.room_state import (
    CaptionEvent,
    CaptionsOutput,
    CaptionWithdrawn,
    RoomCaptions,
    TranscriptEntry,
)
from captions.translate import TranslationCatalog
from captions.worker_protocol import (
    Recognised,
    SpeechBegan,
    SpeechProcessed,
    StreamFailed,
    StreamStats,
    Translated,
    TranslationFailed,
    WorkerOutput,
    WorkerReady,
)
from captions.workers import WorkerPool

__all__ = [
    "AvailableLanguages",
    "CaptionEvent",
    "CaptionService",
    "CaptionWithdrawn",
    "CaptionsOutput",
    "SpeakerTap",
    "TranscriptEntry",
]

log = logging.getLogger(__name__)

_WATCHDOG_INTERVAL_S = 1.0


@dataclass(frozen=True)
class AvailableLanguages:
    speak: tuple[str, ...]  # recognisable
    read: tuple[str, ...]  # recognisable or a translation target


@dataclass
class _Speaker:
    room_id: str
    participant_id: str
    producer_id: str
    language: str
    stream_id: str
    packets: int = 0
    ignored: int = 0
    dropped: int = 0
    closed: bool = False


@dataclass(frozen=True)
class _PendingTranslation:
    room_id: str
    utterance_id: str
    speaker_id: str
    source: str
    target: str
    text: str
    started_at: float
    ended_at: float


class SpeakerTap:
    """The :class:`sfu.taps.AudioTap` handed to the media plane for one audio producer."""

    def __init__(self, service: CaptionService, speaker: _Speaker) -> None:
        self._service = service
        self._speaker = speaker

    @property
    def stream_id(self) -> str:
        return self._speaker.stream_id

    def on_packet(self, payload: bytes, rtp_timestamp: int, sequence_number: int, arrival: float) -> None:
        self._service._on_packet(self._speaker, payload, rtp_timestamp, arrival)

    def on_close(self) -> None:
        speaker = self._speaker
        self._service.detach_speaker(speaker.room_id, speaker.participant_id, speaker.producer_id)


class CaptionService:
    def __init__(
        self, config: CaptionsConfig, on_event: Callable[[CaptionsOutput], None] | None = None
    ) -> None:
        self._config = config
        self._on_event = on_event
        self._speech = SpeechCatalog(config.models_folder)
        self._translations = TranslationCatalog(config.translation_folder)
        self._pool: WorkerPool | None = None
        self._rooms: dict[str, RoomCaptions] = {}
        self._speakers: dict[tuple[str, str, str], _Speaker] = {}
        self._streams: dict[str, _Speaker] = {}  # until the worker's StreamStats
        self._pending: dict[int, _PendingTranslation] = {}
        # None wakes up and ends the readers of events() at close.
        self._events: asyncio.Queue[CaptionsOutput | None] = asyncio.Queue(config.event_queue_size)
        self._ids = itertools.count(1)
        self._ready_workers: set[str] = set()
        self._all_ready = asyncio.Event()
        self._closed = False
        self._watchdog: asyncio.Task[None] | None = None
        self.counters: Counter[str] = Counter()
        #: Translations asked for, by "src->dst" (how a listener's departure is seen).
        self.translations_requested: Counter[str] = Counter()
        self.translation_seconds: list[float] = []
        #: Seconds of speech the recognisers processed, reported while streams run.
        self.speech_seconds = 0.0
        #: Seconds of audio decoded (silence included), reported when streams close.
        self.audio_seconds_decoded = 0.0

    # ------------------------------------------------------------ lifecycle

    def is_idle(self) -> bool:
        """Nothing in use: no room's transcript, no speaker, no translation under way."""
        return not self._rooms and not self._speakers and not self._pending

    async def start(self) -> None:
        preload: tuple[SpeechModel, ...] = tuple(
            self._speech.resolve(code, "preload_languages") for code in self._config.preload_languages
        )
        self._pool = WorkerPool(self._config, self._on_output, preload)
        self._pool.start()
        self._watchdog = asyncio.create_task(self._watch_workers(), name="captions-watchdog")

    async def _watch_workers(self) -> None:
        """Replace dead workers; finals whose translation died with one go out untranslated."""
        while True:
            await asyncio.sleep(_WATCHDOG_INTERVAL_S)
            if self._pool is None or not self._all_ready.is_set():
                continue  # wait_ready reports workers that die while starting
            restarted, lost = self._pool.restart_dead()
            if restarted:
                log.error("caption workers died and were restarted: %s", ", ".join(restarted))
                self.counters["worker_restarts"] += len(restarted)
            for request_id in lost:
                self.counters["translations_failed"] += 1
                self._on_translated(request_id, None, 0.0)

    async def wait_ready(self) -> None:
        """Wait until every worker process has started and loaded its preloaded models.

        Callers bound the wait themselves (``async with asyncio.timeout(...)``); a worker
        that died while starting raises :class:`WorkerDied` at once.
        """
        pool = self._require_pool()
        while not self._all_ready.is_set():
            dead = pool.dead_workers()
            if dead:
                raise WorkerDied(f"caption worker(s) exited while starting: {', '.join(dead)}")
            try:
                async with asyncio.timeout(0.1):
                    await self._all_ready.wait()
            except TimeoutError:
                continue

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._events.full():
            self._events.get_nowait()
        self._events.put_nowait(None)
        for speaker in list(self._speakers.values()):
            speaker.closed = True
        self._speakers.clear()
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
        if self._pool is not None:
            await self._pool.close()
        self._rooms.clear()
        self._streams.clear()
        self._pending.clear()

    async def __aenter__(self) -> CaptionService:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _require_pool(self) -> WorkerPool:
        if self._closed or self._pool is None:
            raise ServiceClosed("the caption service is closed or not started")
        return self._pool

    # ------------------------------------------------------------ languages

    def available_languages(self) -> AvailableLanguages:
        speak = self._speech.languages()
        read = sorted(set(speak) | self._translations.targets())
        return AvailableLanguages(tuple(speak), tuple(read))

    # ------------------------------------------------------------ speakers

    def attach_speaker(
        self, room_id: str, participant_id: str, producer_id: str, speak_lang: str
    ) -> SpeakerTap:
        """Start captioning an audio producer; raises LanguageUnavailable / InvalidLanguage."""
        pool = self._require_pool()
        model = self._speech.resolve(speak_lang, "speak_lang")
        key = (room_id, participant_id, producer_id)
        old = self._speakers.get(key)
        if old is not None:
            self.detach_speaker(room_id, participant_id, producer_id)
        stream_id = f"s{next(self._ids)}"
        speaker = _Speaker(room_id, participant_id, producer_id, model.language, stream_id)
        self._room(room_id)
        self._speakers[key] = speaker
        self._streams[stream_id] = speaker
        pool.open_stream(stream_id, model)
        return SpeakerTap(self, speaker)

    def detach_speaker(self, room_id: str, participant_id: str, producer_id: str | None = None) -> None:
        """Stop captioning one producer (or all of a participant's); idempotent."""
        for key in [k for k in self._speakers if k[:2] == (room_id, participant_id)]:
            if producer_id is not None and key[2] != producer_id:
                continue
            speaker = self._speakers.pop(key)
            speaker.closed = True
            if self._pool is not None and not self._closed:
                self._pool.close_stream(speaker.stream_id)  # the worker flushes a last final
        room = self._rooms.get(room_id)
        if room is not None:
            room.dedup.forget_speaker(participant_id)

    def _on_packet(self, speaker: _Speaker, payload: bytes, rtp_timestamp: int, arrival: float) -> None:
        if speaker.closed or self._pool is None:
            return
        speaker.packets += 1
        room = self._rooms.get(speaker.room_id)
        if room is None or not room.listeners:
            speaker.ignored += 1  # nobody reads captions here: no work at all
            return
        if not self._pool.send_audio(speaker.stream_id, payload, rtp_timestamp, arrival):
            speaker.dropped += 1
            self.counters["dropped_packets"] += 1  # all speakers, ever (the speaker may leave)

    # ------------------------------------------------------------ listeners and rooms

    def _room(self, room_id: str) -> RoomCaptions:
        room = self._rooms.get(room_id)
        if room is None:
            dedup = EchoDeduplicator(self._config.dedup_window_s, self._config.dedup_similarity)
            room = RoomCaptions(room_id, dedup, self._config.transcript_max_entries)
            self._rooms[room_id] = room
        return room

    def set_listener(self, room_id: str, listener_id: str, read_lang: str | None) -> None:
        """Captions on in ``read_lang`` for this listener, or off (None)."""
        self._require_pool()
        if read_lang is None:
            self.remove_listener(room_id, listener_id)
            return
        language = self._translations.require_readable(
            read_lang, self._speech.languages(), "read_lang"
        )
        self._room(room_id).listeners[listener_id] = language

    def remove_listener(self, room_id: str, listener_id: str) -> None:
        room = self._rooms.get(room_id)
        if room is not None:
            room.listeners.pop(listener_id, None)

    def drop_room(self, room_id: str) -> None:
        """The consultation ended: stop its speakers and forget everything about it."""
        for key in [k for k in self._speakers if k[0] == room_id]:
            self.detach_speaker(*key)
        # Late results of its streams must not reach a new room that reuses the id.
        for stream_id in [s for s, sp in self._streams.items() if sp.room_id == room_id]:
            del self._streams[stream_id]
        self._rooms.pop(room_id, None)
        for request_id in [r for r, p in self._pending.items() if p.room_id == room_id]:
            del self._pending[request_id]

    def transcript(self, room_id: str) -> list[TranscriptEntry]:
        room = self._rooms.get(room_id)
        return list(room.transcript) if room is not None else []

    # ------------------------------------------------------------ events

    def _emit(self, event: CaptionsOutput) -> None:
        self.counters["events" if isinstance(event, CaptionEvent) else "withdrawals"] += 1
        if self._on_event is not None:
            try:
                self._on_event(event)
            except Exception:  # the listener's bug must not stop captions for others
                log.exception("caption event callback failed")
            return
        if self._events.full():
            self._events.get_nowait()
            self.counters["events_dropped"] += 1
        self._events.put_nowait(event)

    async def events(self) -> AsyncIterator[CaptionsOutput]:
        """Caption events and withdrawals, when no ``on_event`` callback was given
        (bounded: oldest dropped).

        One reader at a time; the iteration ends when the service is closed.
        """
        while True:
            event = await self._events.get()
            if event is None:
                return
            yield event

    # ------------------------------------------------------------ worker results

    def _on_output(self, message: WorkerOutput) -> None:
        if self._closed:
            return
        if isinstance(message, Recognised):
            self._on_recognised(message)
        elif isinstance(message, SpeechBegan):
            self._on_speech_began(message)
        elif isinstance(message, SpeechProcessed):
            # Counted as the workers process it (not when the stream closes), speech only.
            self.speech_seconds += message.seconds
        elif isinstance(message, Translated):
            self._on_translated(message.request_id, message.text, message.seconds)
        elif isinstance(message, TranslationFailed):
            log.warning("translation failed: %s", message.message)
            self.counters["translations_failed"] += 1
            self._on_translated(message.request_id, None, 0.0)
        elif isinstance(message, WorkerReady):
            self._ready_workers.add(message.worker)
            expected = self._config.recognition_workers + self._config.translation_workers
            if len(self._ready_workers) >= expected:
                self._all_ready.set()
        elif isinstance(message, StreamFailed):
            log.error("caption stream %s failed: %s", message.stream_id, message.message)
            self.counters["streams_failed"] += 1
        elif isinstance(message, StreamStats):
            self._streams.pop(message.stream_id, None)
            # Everything decoded, silence included (dump only; /metrics counts speech).
            self.audio_seconds_decoded += message.audio_seconds

    def _on_speech_began(self, began: SpeechBegan) -> None:
        speaker = self._streams.get(began.stream_id)
        room = self._rooms.get(speaker.room_id) if speaker is not None else None
        if speaker is None or room is None:
            return
        heard = Heard(f"{began.stream_id}-{began.utterance_seq}", speaker.participant_id, "",
                      began.started_at, -99.0)
        room.dedup.speech_began(heard, time.monotonic())

    def _withdraw(self, room: RoomCaptions, utterance_id: str | None) -> None:
        """Tell every listener to remove a line (those without it ignore the message)."""
        if utterance_id is not None and room.listeners:
            self._emit(CaptionWithdrawn(room.room_id, utterance_id, tuple(sorted(room.listeners))))

    def _on_recognised(self, result: Recognised) -> None:
        speaker = self._streams.get(result.stream_id)
        if speaker is None:
            return
        room = self._rooms.get(speaker.room_id)
        if room is None or not room.listeners:
            return
        utterance_id = f"{result.stream_id}-{result.utterance_seq}"
        heard = Heard(utterance_id, speaker.participant_id, result.text, result.started_at,
                      result.level_dbfs)
        now = time.monotonic()
        if not result.final:
            partial = room.dedup.offer_partial(heard, now)
            if partial.emit:
                self._send(room, heard, speaker.language, None, False, result, room.readers_of(speaker.language))
            else:
                self.counters["echo_partials_suppressed"] += 1
                self._withdraw(room, partial.withdraw)
            return
        if not result.text.strip():  # the utterance ended with no words: its partial line goes
            self._withdraw(room, room.dedup.ended_without_words(heard.speaker_id, utterance_id, now).withdraw)
            return
        decision = room.dedup.offer_final(heard, now)
        self._withdraw(room, decision.withdraw)
        if not decision.emit:
            self.counters["echo_suppressed"] += 1
            return
        if decision.supersedes is not None:
            self.counters["echo_reattributed"] += 1
            heard = Heard(decision.supersedes.utterance_id, heard.speaker_id, heard.text,
                          heard.started_at, heard.level_dbfs)
            old = room.entry(heard.utterance_id)
            if old is not None:
                room.transcript.remove(old)
        room.transcript.append(TranscriptEntry(heard.utterance_id, heard.speaker_id, speaker.language,
                                               heard.text, result.started_at, result.ended_at))
        for language, readers in room.readers_by_language().items():
            if language == speaker.language:
                self._send(room, heard, language, None, True, result, readers)
                continue
            route = self._translations.route(speaker.language, language)
            pending = _PendingTranslation(room.room_id, heard.utterance_id, heard.speaker_id,
                                          speaker.language, language, heard.text,
                                          result.started_at, result.ended_at)
            request_id = next(self._ids)
            if route and self._require_pool().translate(request_id, heard.text, speaker.language, language):
                self._pending[request_id] = pending
                self.translations_requested[f"{speaker.language}->{language}"] += 1
            else:  # no package for it, or too many waiting: the original beats nothing
                self.counters["untranslated_finals"] += 1
                self._send(room, heard, speaker.language, None, True, result, readers)

    def _send(
        self,
        room: RoomCaptions,
        heard: Heard,
        language: str,
        translated_from: str | None,
        final: bool,
        result: Recognised,
        readers: tuple[str, ...],
    ) -> None:
        if readers:
            self._emit(CaptionEvent(room.room_id, heard.speaker_id, heard.text, language, final,
                                    translated_from, readers, heard.utterance_id,
                                    result.started_at, result.ended_at))

    def _on_translated(self, request_id: int, text: str | None, seconds: float) -> None:
        if self._pool is not None:
            self._pool.translation_done(request_id)
        pending = self._pending.pop(request_id, None)
        if pending is None:
            return
        room = self._rooms.get(pending.room_id)
        if room is None:
            return
        readers = room.readers_of(pending.target)  # who reads it *now*
        if not readers:
            self.counters["translations_unread"] += 1
            return
        if text is None:
            text, language, source = pending.text, pending.source, None
        else:
            self.translation_seconds.append(seconds)
            language, source = pending.target, pending.source
            entry = room.entry(pending.utterance_id)
            if entry is not None:
                entry.translations[pending.target] = text
        self._emit(CaptionEvent(room.room_id, pending.speaker_id, text, language, True, source,
                                readers, pending.utterance_id, pending.started_at, pending.ended_at))

    # ------------------------------------------------------------ introspection

    def dump(self) -> dict[str, Any]:
        return {
            "rooms": {
                room_id: {
                    "listeners": dict(room.listeners),
                    "transcript_entries": len(room.transcript),
                    "echo_suppressed": room.dedup.suppressed,
                    "echo_partials_held": room.dedup.partials_held,
                    "withdrawn": room.dedup.withdrawn,
                }
                for room_id, room in self._rooms.items()
            },
            "speakers": [
                {
                    "room_id": s.room_id,
                    "participant_id": s.participant_id,
                    "producer_id": s.producer_id,
                    "language": s.language,
                    "packets": s.packets,
                    "ignored_packets": s.ignored,
                    "dropped_packets": s.dropped,
                }
                for s in self._speakers.values()
            ],
            "counters": dict(self.counters),
            "speech_seconds": round(self.speech_seconds, 3),
            "audio_seconds_decoded": round(self.audio_seconds_decoded, 3),
            "translations_requested": dict(self.translations_requested),
            "pending_translations": len(self._pending),
            "workers": self._pool.stats() if self._pool is not None else None,
        }
