"""The recognition worker process: Opus -> PCM -> VAD -> engine, for many streams.

Runs in a child process (``spawn``/``forkserver``), so nothing here runs on the event
loop. Speech models are loaded once per process per language (``EngineFactory``) and
shared by every stream of that language. Each stream has its own Opus decoder, VAD and
recogniser. The loop waits at most ``_TICK_S`` for a message so that an utterance whose
audio simply stops arriving (DTX, mute, producer paused) is finalised within the
hangover instead of waiting for the next packet.
"""

from __future__ import annotations

import queue
import time
from dataclasses import dataclass, field
from multiprocessing.sharedctypes import Synchronized
from typing import Any

from captions.audio import OpusStreamDecoder
from captions.engines import create_factory
from captions.engines.base import BYTES_PER_SECOND, EngineFactory, Recognizer, Result
from captions.netguard import forbid_network
from captions.vad import SpeechAudio, SpeechEnded, SpeechStarted, VadEvent, VoiceActivityDetector
from captions.worker_protocol import (
    SPEECH_REPORT_S,
    AudioPacket,
    CloseStream,
    OpenStream,
    Recognised,
    RecognitionSettings,
    SpeechBegan,
    SpeechProcessed,
    Stop,
    StreamFailed,
    StreamStats,
    WorkerReady,
)

_TICK_S = 0.05


@dataclass
class _Stream:
    stream_id: str
    decoder: OpusStreamDecoder
    vad: VoiceActivityDetector
    recognizer: Recognizer
    utterance_seq: int = 0
    started_at: float = 0.0
    last_arrival: float = 0.0
    last_partial_wall: float = 0.0
    audio_bytes: int = 0
    busy_s: float = 0.0
    failed: bool = False
    partial_text: str = field(default="")
    #: A partial of the open utterance went out (an utterance with no final must say so).
    partial_sent: bool = False
    #: Speech handed to the recogniser and not yet reported (SpeechProcessed), in bytes.
    unreported_speech: int = 0
    #: Speech not yet handed to the recogniser (see ``RecognitionSettings.chunk_s``).
    pending_pcm: bytearray = field(default_factory=bytearray)


class RecognitionWorker:
    """The worker's state; ``run`` is its loop. Also usable in-process (tests, benchmarks)."""

    def __init__(self, name: str, settings: RecognitionSettings, outbox: Any) -> None:
        self._name = name
        self._settings = settings
        self._outbox = outbox
        self._factories: dict[str, EngineFactory] = {}
        self._streams: dict[str, _Stream] = {}
        self._chunk_bytes = int(settings.chunk_s * BYTES_PER_SECOND)
        self._report_bytes = int(SPEECH_REPORT_S * BYTES_PER_SECOND)
        self._final_target_s = settings.final_target_s
        self._behind_s = settings.behind_s
        for model in settings.preload:
            self._factory(model)

    def _factory(self, model: OpenStream | Any) -> EngineFactory:
        spec = model.model if isinstance(model, OpenStream) else model
        factory = self._factories.get(spec.language)
        if factory is None:
            factory = create_factory(spec)
            self._factories[spec.language] = factory
        return factory

    def ready(self) -> WorkerReady:
        return WorkerReady(self._name, tuple(sorted(self._factories)))

    def handle(self, message: object) -> None:
        if isinstance(message, AudioPacket):
            stream = self._streams.get(message.stream_id)
            if stream is not None and not stream.failed:
                self._guarded(stream, self._audio, message)
        elif isinstance(message, OpenStream):
            self._open(message)
        elif isinstance(message, CloseStream):
            self._close(message.stream_id)

    def _open(self, message: OpenStream) -> None:
        try:
            factory = self._factory(message)
            recognizer = factory.create(message.model.language)
        except Exception as exc:  # a broken model folder must not kill the worker
            self._outbox.put(StreamFailed(message.stream_id, f"cannot load model: {exc}"))
            return
        self._streams[message.stream_id] = _Stream(
            message.stream_id,
            OpusStreamDecoder(),
            VoiceActivityDetector(self._settings.vad),
            recognizer,
        )

    def _close(self, stream_id: str) -> None:
        stream = self._streams.pop(stream_id, None)
        if stream is None:
            return
        if not stream.failed:
            self._guarded(stream, self._emit_vad, stream.vad.flush(stream.last_arrival))
        stream.recognizer.close()
        self._outbox.put(
            StreamStats(
                stream_id,
                stream.decoder.packets,
                stream.decoder.corrupt_packets,
                stream.vad.utterances,
                stream.audio_bytes / BYTES_PER_SECOND,
                stream.busy_s,
            )
        )

    def _guarded(self, stream: _Stream, action: Any, argument: Any) -> None:
        started = time.perf_counter()
        try:
            action(stream, argument)
        except Exception as exc:  # one bad stream must not stop the others
            stream.failed = True
            self._outbox.put(StreamFailed(stream.stream_id, f"recognition failed: {exc!r}"))
        stream.busy_s += time.perf_counter() - started

    def _audio(self, stream: _Stream, packet: AudioPacket) -> None:
        decoded = stream.decoder.decode(packet.payload, packet.rtp_timestamp)
        events: list[VadEvent] = []
        if decoded.break_s:
            events += stream.vad.flush(stream.last_arrival)
        stream.last_arrival = packet.arrival
        stream.audio_bytes += len(decoded.pcm)
        events += stream.vad.push(decoded.pcm, packet.arrival)
        self._emit_vad(stream, events, time.monotonic() - packet.arrival)

    def _emit_vad(self, stream: _Stream, events: list[VadEvent], lag_s: float = 0.0) -> None:
        for event in events:
            if isinstance(event, SpeechStarted):
                stream.started_at = event.at
                stream.pending_pcm += event.preroll
                self._outbox.put(SpeechBegan(stream.stream_id, stream.utterance_seq, event.at))
            elif isinstance(event, SpeechAudio):
                stream.pending_pcm += event.pcm
                if len(stream.pending_pcm) >= self._chunk_bytes:
                    self._feed(stream, stream.last_arrival)
            elif isinstance(event, SpeechEnded):
                self._feed(stream, event.at)
                # The time budget (RecognitionSettings.final_target_s and behind_s).
                time_left = self._final_target_s - (time.monotonic() - event.at)
                if lag_s > self._behind_s:
                    time_left = 0.0
                results = stream.recognizer.finish(time_left)
                self._results(stream, results, event.at, event.level_dbfs)
                if stream.partial_sent:
                    # No words after all: the partial line shown must not stay forever.
                    self._results(stream, [Result(text="", final=True)], event.at, event.level_dbfs)
                stream.partial_sent = False
                self._report_speech(stream, 0)

    def _feed(self, stream: _Stream, at: float) -> None:
        if stream.pending_pcm:
            pcm = bytes(stream.pending_pcm)
            stream.pending_pcm.clear()
            self._results(stream, stream.recognizer.accept_pcm16(pcm), at, -99.0)
            stream.unreported_speech += len(pcm)
            self._report_speech(stream, self._report_bytes)

    def _report_speech(self, stream: _Stream, at_least: int) -> None:
        """Recognised speech counts as it is processed (captions_audio_seconds_total)."""
        if stream.unreported_speech and stream.unreported_speech >= at_least:
            self._outbox.put(SpeechProcessed(stream.stream_id, stream.unreported_speech / BYTES_PER_SECOND))
            stream.unreported_speech = 0

    def _results(self, stream: _Stream, results: list[Result], at: float, level: float) -> None:
        now = time.monotonic()
        for result in results:
            if not result.final:
                if now - stream.last_partial_wall < self._settings.partial_interval_s:
                    continue
                stream.last_partial_wall = now
                stream.partial_sent = True
            self._outbox.put(
                Recognised(
                    stream.stream_id,
                    stream.utterance_seq,
                    result.text,
                    result.final,
                    stream.started_at,
                    at,
                    level,
                    now,
                )
            )
            if result.final:
                stream.utterance_seq += 1
                stream.started_at = at
                stream.partial_sent = False

    def tick(self) -> None:
        """End utterances whose audio stopped arriving (DTX, mute): call when the inbox is empty.

        Judged on arrival times at the server, not on when this worker got to a packet:
        a worker busy with another stream must not cut this one's utterance, and with
        the inbox empty every packet that arrived has been handled.
        """
        now = time.monotonic()
        hangover = self._settings.vad.hangover_s
        for stream in self._streams.values():
            if not stream.failed and stream.vad.in_speech and now - stream.last_arrival >= hangover:
                self._guarded(stream, self._emit_vad, stream.vad.flush(stream.last_arrival))

    def idle(self) -> None:
        """The inbox is empty: engines may prepare (load a spare decoder) now."""
        if self._streams:
            for factory in self._factories.values():
                factory.prepare()

    def close(self) -> None:
        for stream_id in list(self._streams):
            self._close(stream_id)
        for factory in self._factories.values():
            factory.close()


def recognition_main(
    name: str, settings: RecognitionSettings, inbox: Any, outbox: Any, received: Synchronized
) -> None:
    """Entry point of a recognition worker process."""
    forbid_network()
    worker = RecognitionWorker(name, settings, outbox)
    outbox.put(worker.ready())
    try:
        while True:
            try:
                message = inbox.get(timeout=_TICK_S)
            except queue.Empty:
                worker.tick()
                worker.idle()
                continue
            if isinstance(message, AudioPacket):
                received.value += 1  # only this process writes it
            if isinstance(message, Stop):
                break
            worker.handle(message)
            if inbox.empty():
                worker.idle()
    finally:
        worker.close()
