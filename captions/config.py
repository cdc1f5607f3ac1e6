"""Configuration of the captions package: one frozen dataclass, passed to the service."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from captions.errors import ConfigError


@dataclass(frozen=True)
class VadConfig:
    """Energy voice-activity detection (see captions/vad.py)."""

    #: Frames louder than this (dBFS) can be speech whatever the noise floor.
    threshold_dbfs: float = -45.0
    #: A frame must also be this many dB above the tracked noise floor.
    margin_db: float = 12.0
    #: The noise floor is the quietest frame in this window (see captions/vad.py).
    noise_window_s: float = 3.0
    #: Consecutive speech frames (20 ms each) needed to start an utterance.
    start_frames: int = 3
    #: Silence that ends an utterance (short pauses between words stay inside it).
    hangover_s: float = 0.3
    #: Audio kept from before the start so the first phoneme is not cut.
    preroll_s: float = 0.25
    #: An utterance longer than this is cut and finalised (captions keep flowing).
    max_utterance_s: float = 15.0


@dataclass(frozen=True)
class CaptionsConfig:
    #: Folder of vosk models, one sub-folder per language code (``fr/``, ``de/``, ...).
    models_folder: Path = Path("models/vosk")
    #: Folder of installed argostranslate packages (``consult-sfu models install FILE``).
    translation_folder: Path = Path("models/translate")
    #: Recognition worker processes; streams are spread over them by language.
    recognition_workers: int = 1
    #: Translation worker processes (a model is loaded once per process); 0: no translation.
    translation_workers: int = 1
    #: Audio packets waiting for a recognition worker (all its streams); beyond, dropped.
    audio_queue_packets: int = 1500
    #: Translation requests waiting; beyond, the newest is dropped (original is shown).
    translation_queue_requests: int = 200
    #: Caption events waiting for a reader of :meth:`CaptionService.events`.
    event_queue_size: int = 1000
    #: Echo de-duplication: same words from two speakers within this many seconds.
    dedup_window_s: float = 2.0
    #: Echo de-duplication: similarity (0..1) above which two texts are the same words.
    dedup_similarity: float = 0.8
    #: Partial results are sent at most this often per speaker.
    partial_interval_s: float = 0.25
    #: Speech is handed to the recogniser in chunks of at least this much audio (the end
    #: of an utterance is never held back). Fewer, larger calls keep one decoder's model
    #: in the CPU cache: six speakers at once cost 0.083 CPU-s per stream-second in 200 ms
    #: chunks, 0.122 in 20 ms ones (benchmarks/sphinx_settings.py).
    recognition_chunk_s: float = 0.2
    #: A final caption should be out within this many seconds of the end of the speech;
    #: optional recognition work that would not fit is skipped (the second pass over a
    #: speaker's first utterance), trading some accuracy for timeliness.
    final_target_s: float = 1.0
    #: No optional work at all while a recognition worker is this many seconds behind
    #: the audio it is handling (it would delay every stream queued behind it).
    behind_s: float = 0.2
    #: Beam size used for translation (argostranslate's default is 4; 2 is faster).
    translation_beam_size: int = 2
    #: Load every installed translation package when a worker starts (else at first use).
    translation_preload: bool = True
    #: Final captions kept per room (in memory only).
    transcript_max_entries: int = 5000
    #: Languages whose speech model each recognition worker loads at start.
    preload_languages: tuple[str, ...] = ()
    vad: VadConfig = VadConfig()

    def __post_init__(self) -> None:
        positive = (
            "recognition_workers",
            "audio_queue_packets",
            "translation_queue_requests",
            "event_queue_size",
            "translation_beam_size",
            "transcript_max_entries",
        )
        for name in positive:
            if getattr(self, name) < 1:
                raise ConfigError(f"captions.{name} must be at least 1, got {getattr(self, name)!r}")
        if self.translation_workers < 0:
            raise ConfigError("captions.translation_workers must not be negative")
        if not 0.0 < self.dedup_similarity <= 1.0:
            raise ConfigError("captions.dedup_similarity must be in (0, 1]")
        if self.dedup_window_s < 0:
            raise ConfigError("captions.dedup_window_s must not be negative")
        if self.partial_interval_s < 0:
            raise ConfigError("captions.partial_interval_s must not be negative")
        if not 0.0 <= self.recognition_chunk_s <= 1.0:
            raise ConfigError("captions.recognition_chunk_s must be between 0 and 1 second")
        for name in ("final_target_s", "behind_s"):
            if not 0.0 <= getattr(self, name) <= 60.0:
                raise ConfigError(f"captions.{name} must be between 0 and 60 seconds, got {getattr(self, name)!r}")
        if self.vad.hangover_s <= 0 or self.vad.start_frames < 1:
            raise ConfigError("captions.vad.hangover_s must be > 0 and start_frames >= 1")
