"""Energy voice-activity detection that cuts a stream into utterances (sans-I/O).

Audio is pushed in 20 ms frames of 16 kHz mono s16 with the time they were received
(``now``, any monotonic clock); the detector returns what happened:

- :class:`SpeechStarted` after ``start_frames`` loud frames in a row, carrying the
  pre-roll (audio from just before, so the first phoneme reaches the recogniser);
- :class:`SpeechAudio` for every frame while an utterance is open (including short
  pauses: words are separated by silences shorter than the hangover);
- :class:`SpeechEnded` once ``hangover_s`` of quiet follows speech, or the utterance
  reached ``max_utterance_s``, or :meth:`flush` is called (stream stopped or a gap).

Loud means above an absolute threshold *and* a margin above the noise floor, which is
the quietest frame of the last ``noise_window_s`` (a sliding minimum): speech always has
quieter gaps between syllables and words, so the minimum stays at the background level
while someone talks, but a steady noise (fan, hum) becomes the floor within that window
and does not keep an utterance open. The utterance's mean level (dBFS) is
reported at its end; echo de-duplication uses it as a tie-breaker.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from captions.config import VadConfig

FRAME_SAMPLES = 320  # 20 ms at 16 kHz
FRAME_BYTES = FRAME_SAMPLES * 2
FRAME_S = FRAME_SAMPLES / 16000


@dataclass(frozen=True)
class SpeechStarted:
    at: float  # receive time of the first loud frame
    preroll: bytes


@dataclass(frozen=True)
class SpeechAudio:
    pcm: bytes


@dataclass(frozen=True)
class SpeechEnded:
    at: float  # receive time of the last loud frame
    level_dbfs: float
    reason: str  # "silence", "max_length", "flush"


VadEvent = SpeechStarted | SpeechAudio | SpeechEnded


def frame_dbfs(frame: bytes) -> float:
    samples = np.frombuffer(frame, dtype=np.int16).astype(np.float32)
    if samples.size == 0:
        return -120.0
    rms = float(np.sqrt(np.mean(samples * samples)))
    return 20.0 * math.log10(max(rms, 1e-3) / 32768.0)


class VoiceActivityDetector:
    def __init__(self, config: VadConfig) -> None:
        self._config = config
        self._buffer = bytearray()
        self._preroll: deque[bytes] = deque(maxlen=max(1, round(config.preroll_s / FRAME_S)))
        self._noise_window: deque[tuple[int, float]] = deque()  # (frame index, level), rising
        self._frame_index = 0
        self._noise_frames = max(1, round(config.noise_window_s / FRAME_S))
        self._loud_run = 0
        self._in_speech = False
        self._quiet_s = 0.0
        self._utterance_s = 0.0
        self._first_loud_at = 0.0
        self._last_loud_at = 0.0
        self._energy_sum = 0.0
        self._energy_frames = 0
        self.utterances = 0

    @property
    def in_speech(self) -> bool:
        return self._in_speech

    def push(self, pcm: bytes, now: float) -> list[VadEvent]:
        """Feed audio of any length; complete 20 ms frames are classified."""
        self._buffer += pcm
        events: list[VadEvent] = []
        while len(self._buffer) >= FRAME_BYTES:
            frame = bytes(self._buffer[:FRAME_BYTES])
            del self._buffer[:FRAME_BYTES]
            events.extend(self._frame(frame, now))
        return events

    def flush(self, now: float) -> list[VadEvent]:
        """The stream paused or ended: close an open utterance now."""
        self._buffer.clear()
        self._loud_run = 0
        self._preroll.clear()
        if not self._in_speech:
            return []
        return [self._end("flush")]

    @property
    def noise_floor(self) -> float:
        return self._noise_window[0][1] if self._noise_window else -120.0

    def _is_loud(self, level: float) -> bool:
        return level > self._config.threshold_dbfs and level > self.noise_floor + self._config.margin_db

    def _track_noise(self, level: float) -> None:
        # Sliding-window minimum with a monotonic deque: O(1) amortised per frame.
        self._frame_index += 1
        window = self._noise_window
        while window and window[-1][1] >= level:
            window.pop()
        window.append((self._frame_index, level))
        while window[0][0] <= self._frame_index - self._noise_frames:
            window.popleft()

    def _frame(self, frame: bytes, now: float) -> list[VadEvent]:
        level = frame_dbfs(frame)
        self._track_noise(level)
        loud = self._is_loud(level)
        if not self._in_speech:
            self._preroll.append(frame)
            self._loud_run = self._loud_run + 1 if loud else 0
            if self._loud_run == 1:
                self._first_loud_at = now
            if self._loud_run < self._config.start_frames:
                return []
            self._in_speech = True
            self._quiet_s = 0.0
            self._utterance_s = len(self._preroll) * FRAME_S
            self._last_loud_at = now
            self._energy_sum = level
            self._energy_frames = 1
            preroll = b"".join(self._preroll)
            self._preroll.clear()
            return [SpeechStarted(self._first_loud_at, preroll)]
        events: list[VadEvent] = [SpeechAudio(frame)]
        self._utterance_s += FRAME_S
        if loud:
            self._quiet_s = 0.0
            self._last_loud_at = now
            self._energy_sum += level
            self._energy_frames += 1
        else:
            self._quiet_s += FRAME_S
        if self._quiet_s >= self._config.hangover_s:
            events.append(self._end("silence"))
        elif self._utterance_s >= self._config.max_utterance_s:
            events.append(self._end("max_length"))
        return events

    def _end(self, reason: str) -> SpeechEnded:
        self._in_speech = False
        self._loud_run = 0
        self.utterances += 1
        level = self._energy_sum / max(1, self._energy_frames)
        return SpeechEnded(self._last_loud_at, level, reason)
