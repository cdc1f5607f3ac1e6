"""Worker processes for recognition and translation, seen from the event loop.

``WorkerPool`` starts ``recognition_workers`` + ``translation_workers`` processes with the
``spawn`` context (a clean interpreter: no inherited event loop, sockets or threads),
and gives the service non-blocking calls:

- ``send_audio`` puts a packet on the stream's worker queue, or drops it and counts
  the drop when that worker already has ``audio_queue_packets`` waiting. The bound is
  kept with two counters (packets sent, written here; packets received, written by the
  worker in shared memory), so checking it takes no lock and never waits.
- ``translate`` likewise, bounded by ``translation_queue_requests`` in flight.
- Control messages (open/close stream) share the audio queue, so they stay in order
  with the audio, and are never dropped.

Results come back on one pipe per worker, of which that worker is the only writer, read by
one thread that waits on all of them and hands each message to the event loop with
``call_soon_threadsafe``. Not one queue shared by every worker: its writers share a
cross-process lock, and a worker killed while it held it (an out-of-memory kill mid-message;
seen in a full test run, where the SIGKILL of the replacement test landed there) stopped every
other worker's output and hung close(). A worker's own pipe dies with it: the parent keeps only
the reading end, so a dead worker's pipe (a half-written message included) reads as its end
and is dropped. ``close()`` stops the workers (Stop message, join, terminate after a timeout),
then tells the reader to read what is left and end.

Streams are placed on the worker that already has their language loaded, unless it has
two more streams than the least loaded worker (then the language is loaded there too).
A worker that dies (crash, out-of-memory kill) is replaced by ``restart_dead`` (the
service calls it every second) and its streams are reopened on the new process.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.context import SpawnProcess
from multiprocessing.queues import Queue
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any

from captions.config import CaptionsConfig
from captions.errors import ServiceClosed
from captions.languages import SpeechModel
from captions.worker_protocol import (
    AudioPacket,
    CloseStream,
    OpenStream,
    RecognitionSettings,
    Stop,
    TranslateRequest,
    WorkerOutput,
)

_JOIN_TIMEOUT_S = 5.0
#: How long the reader waits for output before it looks for new workers' pipes.
_READ_POLL_S = 0.2


@dataclass
class _RecognitionWorker:
    name: str
    process: SpawnProcess
    inbox: Queue[Any]
    received: Synchronized
    sent: int = 0
    dropped: int = 0
    languages: set[str] = field(default_factory=set)
    streams: set[str] = field(default_factory=set)

    @property
    def pending(self) -> int:
        return self.sent - int(self.received.value)


@dataclass
class _TranslationWorker:
    name: str
    process: SpawnProcess
    inbox: Queue[Any]
    in_flight: set[int] = field(default_factory=set)


class WorkerPool:
    def __init__(
        self,
        config: CaptionsConfig,
        on_output: Callable[[WorkerOutput], None],
        preload: tuple[SpeechModel, ...] = (),
    ) -> None:
        self._config = config
        self._on_output = on_output
        self._preload = preload
        self._context = multiprocessing.get_context("spawn")
        self._outputs: list[Connection] = []  # each worker's reading end; the reader drops dead ones
        self._outputs_lock = threading.Lock()
        # the parent's own pipe into the reader's wait: close() says stop on it
        self._wake_reader, self._wake_writer = self._context.Pipe(duplex=False)
        self._recognition: list[_RecognitionWorker] = []
        self._translation: list[_TranslationWorker] = []
        self._stream_worker: dict[str, _RecognitionWorker] = {}
        self._stream_model: dict[str, SpeechModel] = {}
        self._request_worker: dict[int, _TranslationWorker] = {}
        self._reader: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self.translations_dropped = 0
        self.restarts = 0

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Start the processes (returns at once; models load in the background)."""
        self._loop = asyncio.get_running_loop()
        for index in range(self._config.recognition_workers):
            self._recognition.append(self._spawn_recognition(f"recognition-{index}"))
        for index in range(self._config.translation_workers):
            self._translation.append(self._spawn_translation(f"translation-{index}"))
        self._reader = threading.Thread(
            target=self._read_outputs, name="captions-worker-reader", daemon=True
        )
        self._reader.start()

    def _spawn_recognition(self, name: str) -> _RecognitionWorker:
        settings = RecognitionSettings(
            self._config.vad, self._config.partial_interval_s, self._preload,
            self._config.recognition_chunk_s, self._config.final_target_s, self._config.behind_s,
        )
        inbox: Queue[Any] = self._context.Queue()
        inbox.cancel_join_thread()  # never hang close() on audio nobody will read
        received = self._context.Value("q", 0, lock=False)
        output, writer = self._context.Pipe(duplex=False)
        process = self._context.Process(
            target=_recognition_main,
            args=(name, settings, inbox, writer, received),
            name=f"consult-sfu-captions-{name}",
            daemon=True,
        )
        self._start(process, output, writer)
        worker = _RecognitionWorker(name, process, inbox, received)  # type: ignore[arg-type]
        worker.languages.update(m.language for m in self._preload)
        return worker

    def _spawn_translation(self, name: str) -> _TranslationWorker:
        inbox: Queue[Any] = self._context.Queue()
        inbox.cancel_join_thread()
        output, writer = self._context.Pipe(duplex=False)
        process = self._context.Process(
            target=_translation_main,
            args=(
                name,
                self._config.translation_folder,
                self._config.translation_beam_size,
                self._config.translation_preload,
                inbox,
                writer,
            ),
            name=f"consult-sfu-captions-{name}",
            daemon=True,
        )
        self._start(process, output, writer)
        return _TranslationWorker(name, process, inbox)

    def _start(self, process: SpawnProcess, output: Connection, writer: Connection) -> None:
        process.start()
        # The worker holds the writing end now; with the parent's copy closed, the worker's
        # exit (however it dies) is the end of its pipe for the reader.
        writer.close()
        with self._outputs_lock:
            self._outputs.append(output)

    def restart_dead(self) -> tuple[list[str], list[int]]:
        """Replace workers that exited (crash, OOM kill); their streams are reopened.

        Returns the names restarted and the translation requests lost with them (the
        caller shows those finals untranslated). Audio queued to a dead worker is lost.
        """
        if self._closed:
            return [], []
        restarted: list[str] = []
        lost: list[int] = []
        for index, old in enumerate(self._recognition):
            if old.process.exitcode is None:
                continue
            old.inbox.close()
            worker = self._spawn_recognition(old.name)
            worker.dropped = old.dropped
            for stream_id in sorted(old.streams):
                model = self._stream_model[stream_id]
                worker.streams.add(stream_id)
                worker.languages.add(model.language)
                self._stream_worker[stream_id] = worker
                worker.inbox.put_nowait(OpenStream(stream_id, model))
            self._recognition[index] = worker
            restarted.append(old.name)
        for index, old_translation in enumerate(self._translation):
            if old_translation.process.exitcode is None:
                continue
            old_translation.inbox.close()
            for request_id in old_translation.in_flight:
                self._request_worker.pop(request_id, None)
                lost.append(request_id)
            self._translation[index] = self._spawn_translation(old_translation.name)
            restarted.append(old_translation.name)
        self.restarts += len(restarted)
        return restarted, sorted(lost)

    def _read_outputs(self) -> None:
        loop = self._loop
        if loop is None:  # start() sets it before the thread exists
            return
        stopping = False  # once told: read what is left, without waiting, and end
        while True:
            with self._outputs_lock:
                outputs = list(self._outputs)
            ready = wait([*outputs, self._wake_reader], timeout=0 if stopping else _READ_POLL_S)
            if self._wake_reader in ready:
                ready.remove(self._wake_reader)
                self._wake_reader.recv_bytes()
                stopping = True
            elif not ready and stopping:
                return
            for output in ready:
                assert isinstance(output, Connection)
                try:
                    message = output.recv()
                except (EOFError, OSError):  # its worker exited (or died mid-message)
                    with self._outputs_lock:
                        if output in self._outputs:  # (close() may have cleared them)
                            self._outputs.remove(output)
                    output.close()
                    continue
                try:
                    loop.call_soon_threadsafe(self._on_output, message)
                except RuntimeError:  # loop closed under us: nothing left to deliver to
                    return

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        workers: list[tuple[SpawnProcess, Queue[Any]]] = [
            (w.process, w.inbox) for w in self._recognition
        ] + [(w.process, w.inbox) for w in self._translation]
        for _, inbox in workers:
            inbox.put_nowait(Stop())
        for process, inbox in workers:
            await loop.run_in_executor(None, process.join, _JOIN_TIMEOUT_S)
            if process.is_alive():
                process.terminate()
                await loop.run_in_executor(None, process.join, _JOIN_TIMEOUT_S)
            inbox.close()
        self._wake_writer.send_bytes(b"")  # stop: every worker has exited, so each pipe ends
        if self._reader is not None:  # bounded all the same: close() must end
            await loop.run_in_executor(None, self._reader.join, _JOIN_TIMEOUT_S)
        self._wake_writer.close()
        self._wake_reader.close()
        with self._outputs_lock:
            for output in self._outputs:
                output.close()
            self._outputs.clear()

    # ------------------------------------------------------------ recognition

    def _place(self, language: str) -> _RecognitionWorker:
        least = min(self._recognition, key=lambda w: len(w.streams))
        having = [w for w in self._recognition if language in w.languages]
        if having:
            best = min(having, key=lambda w: len(w.streams))
            if len(best.streams) <= len(least.streams) + 2:
                return best
        return least

    def open_stream(self, stream_id: str, model: SpeechModel) -> str:
        if self._closed:
            raise ServiceClosed("the caption workers are closed")
        worker = self._place(model.language)
        worker.languages.add(model.language)
        worker.streams.add(stream_id)
        self._stream_worker[stream_id] = worker
        self._stream_model[stream_id] = model
        worker.inbox.put_nowait(OpenStream(stream_id, model))
        return worker.name

    def send_audio(self, stream_id: str, payload: bytes, rtp_timestamp: int, arrival: float) -> bool:
        """Queue one packet; False (and counted) when the worker is too far behind."""
        worker = self._stream_worker.get(stream_id)
        if worker is None or self._closed:
            return False
        if worker.pending >= self._config.audio_queue_packets:
            worker.dropped += 1
            return False
        worker.sent += 1
        worker.inbox.put_nowait(AudioPacket(stream_id, payload, rtp_timestamp, arrival))
        return True

    def close_stream(self, stream_id: str) -> None:
        worker = self._stream_worker.pop(stream_id, None)
        self._stream_model.pop(stream_id, None)
        if worker is None or self._closed:
            return
        worker.streams.discard(stream_id)
        worker.inbox.put_nowait(CloseStream(stream_id))

    # ------------------------------------------------------------ translation

    def translate(self, request_id: int, text: str, source: str, target: str) -> bool:
        """Queue a translation; False (and counted) when too many are in flight."""
        if self._closed or not self._translation:
            return False
        worker = min(self._translation, key=lambda w: len(w.in_flight))
        if len(worker.in_flight) >= self._config.translation_queue_requests:
            self.translations_dropped += 1
            return False
        worker.in_flight.add(request_id)
        self._request_worker[request_id] = worker
        worker.inbox.put_nowait(TranslateRequest(request_id, text, source, target))
        return True

    def translation_done(self, request_id: int) -> None:
        worker = self._request_worker.pop(request_id, None)
        if worker is not None:
            worker.in_flight.discard(request_id)

    # ------------------------------------------------------------ introspection

    def stats(self) -> dict[str, Any]:
        return {
            "recognition": [
                {
                    "name": w.name,
                    "pid": w.process.pid,
                    "alive": w.process.is_alive(),
                    "streams": len(w.streams),
                    "languages": sorted(w.languages),
                    "pending_packets": w.pending,
                    "dropped_packets": w.dropped,
                }
                for w in self._recognition
            ],
            "translation": [
                {
                    "name": w.name,
                    "pid": w.process.pid,
                    "alive": w.process.is_alive(),
                    "in_flight": len(w.in_flight),
                }
                for w in self._translation
            ],
            "translations_dropped": self.translations_dropped,
            "restarts": self.restarts,
        }

    def dead_workers(self) -> list[str]:
        if self._closed:
            return []
        workers = [(w.name, w.process) for w in self._recognition]
        workers += [(w.name, w.process) for w in self._translation]
        return [name for name, process in workers if process.exitcode is not None]

    @property
    def dropped_packets(self) -> int:
        return sum(w.dropped for w in self._recognition)


class _Outbox:
    """A worker's writing end of its own output pipe, with the ``put`` the workers call (a
    lock for the worker's threads: it is the pipe's only writer process)."""

    def __init__(self, writer: Connection) -> None:
        self._writer = writer
        self._lock = threading.Lock()

    def put(self, message: WorkerOutput) -> None:
        with self._lock:
            self._writer.send(message)


# The workers' entry points, imported in the worker processes only: the recognition worker
# brings numpy and the VAD (~15 MB of RSS), which the server's own process never needs.
def _recognition_main(name: str, settings: RecognitionSettings, inbox: Any, writer: Connection, received: Any) -> None:
    from captions.recognition_worker import recognition_main

    recognition_main(name, settings, inbox, _Outbox(writer), received)


def _translation_main(name: str, folder: Path, beam_size: int, preload: bool, inbox: Any, writer: Connection) -> None:
    from captions.translation_worker import translation_main

    translation_main(name, folder, beam_size, preload, inbox, _Outbox(writer))
