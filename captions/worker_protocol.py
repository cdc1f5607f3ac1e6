"""Messages between the caption service and its worker processes (all picklable)."""

from __future__ import annotations

from dataclasses import dataclass

from captions.config import VadConfig
from captions.languages import SpeechModel

# ---------------------------------------------------------------- service -> recognition worker


@dataclass(frozen=True)
class OpenStream:
    stream_id: str
    model: SpeechModel


@dataclass(frozen=True)
class AudioPacket:
    stream_id: str
    payload: bytes  # Opus
    rtp_timestamp: int
    arrival: float  # time.monotonic() in the service process (same clock in workers)


@dataclass(frozen=True)
class CloseStream:
    stream_id: str


@dataclass(frozen=True)
class Stop:
    pass


@dataclass(frozen=True)
class RecognitionSettings:
    vad: VadConfig
    partial_interval_s: float
    preload: tuple[SpeechModel, ...] = ()
    #: Speech goes to the recogniser in chunks of at least this many seconds.
    chunk_s: float = 0.0
    #: A final caption is on time within this many seconds of the end of the speech (the
    #: target in docs/captions.md). Engines get what is left of it when an utterance ends
    #: and skip optional work that would not fit (pocketsphinx's second pass over a
    #: speaker's first utterance): six speakers starting at once must not make every
    #: caption late.
    final_target_s: float = 1.0
    #: ... and none at all while the worker is this late with the audio it is handling
    #: (the extra work would delay every other stream's audio queued behind it).
    behind_s: float = 0.2


# ---------------------------------------------------------------- service -> translation worker


@dataclass(frozen=True)
class TranslateRequest:
    request_id: int
    text: str
    source: str
    target: str


# ---------------------------------------------------------------- workers -> service


@dataclass(frozen=True)
class WorkerReady:
    worker: str
    loaded: tuple[str, ...]


@dataclass(frozen=True)
class Recognised:
    stream_id: str
    #: Counts finals of the stream; partials carry the number their final will have.
    utterance_seq: int
    text: str
    final: bool
    started_at: float  # arrival time of the utterance's first loud frame
    ended_at: float  # arrival time of its last loud frame (finals), of the latest audio (partials)
    level_dbfs: float
    #: Worker time when the result was produced (to measure queueing in the service).
    produced_at: float


@dataclass(frozen=True)
class SpeechBegan:
    """An utterance started (the VAD's first loud frames): sent before any of its results,
    so echo de-duplication knows the original is talking before it has words."""

    stream_id: str
    utterance_seq: int
    started_at: float


@dataclass(frozen=True)
class SpeechProcessed:
    """Seconds of speech (what the VAD passed on) the recogniser has just processed; sent
    at least every ``SPEECH_REPORT_S`` of speech and at the end of each utterance."""

    stream_id: str
    seconds: float


#: How much recognised speech a worker accumulates before reporting it (SpeechProcessed).
SPEECH_REPORT_S = 0.5


@dataclass(frozen=True)
class StreamFailed:
    stream_id: str
    message: str


@dataclass(frozen=True)
class StreamStats:
    stream_id: str
    packets: int
    corrupt_packets: int
    utterances: int
    audio_seconds: float
    busy_seconds: float


@dataclass(frozen=True)
class Translated:
    request_id: int
    text: str
    seconds: float


@dataclass(frozen=True)
class TranslationFailed:
    request_id: int
    message: str


WorkerOutput = (
    WorkerReady | Recognised | SpeechBegan | SpeechProcessed | StreamFailed | StreamStats
    | Translated | TranslationFailed
)
