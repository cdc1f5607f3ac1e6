"""VoiceActivityDetector: utterance start/end with hangover, pre-roll, flush, noise floor."""

from __future__ import annotations

import numpy as np

from captions.config import VadConfig
from captions.vad import (
    FRAME_S,
    FRAME_SAMPLES,
    SpeechAudio,
    SpeechEnded,
    SpeechStarted,
    VoiceActivityDetector,
    frame_dbfs,
)


def tone(seconds: float, amplitude: float) -> bytes:
    t = np.arange(int(seconds * 16000)) / 16000
    return (np.sin(2 * np.pi * 220 * t) * amplitude).astype(np.int16).tobytes()


def run(vad: VoiceActivityDetector, pcm: bytes, start: float = 0.0) -> list[object]:
    events: list[object] = []
    frame_bytes = FRAME_SAMPLES * 2
    for index in range(0, len(pcm), frame_bytes):
        events += vad.push(pcm[index:index + frame_bytes], start + index / 2 / 16000)
    return events


def test_speech_between_silences_is_one_utterance_with_preroll_and_hangover() -> None:
    vad = VoiceActivityDetector(VadConfig(hangover_s=0.3, preroll_s=0.2, start_frames=3))
    pcm = tone(1.0, 0) + tone(1.0, 8000) + tone(1.0, 0)
    events = run(vad, pcm)
    starts = [e for e in events if isinstance(e, SpeechStarted)]
    ends = [e for e in events if isinstance(e, SpeechEnded)]
    assert len(starts) == 1 and len(ends) == 1
    assert abs(starts[0].at - 1.0) < 0.03
    assert len(starts[0].preroll) == int(0.2 / FRAME_S) * FRAME_SAMPLES * 2
    assert abs(ends[0].at - (2.0 - FRAME_S)) < 0.03  # the last loud frame
    assert ends[0].reason == "silence" and ends[0].level_dbfs > -20
    # The end is decided a hangover after the speech, not later.
    index_end = events.index(ends[0])
    audio_after_speech = sum(1 for e in events[:index_end] if isinstance(e, SpeechAudio)) * FRAME_S
    assert 1.0 + 0.3 - 0.1 <= audio_after_speech + 3 * FRAME_S <= 1.0 + 0.3 + 0.1


def test_short_pauses_stay_inside_the_utterance() -> None:
    vad = VoiceActivityDetector(VadConfig(hangover_s=0.3))
    pcm = tone(0.5, 0) + tone(0.4, 8000) + tone(0.15, 0) + tone(0.4, 8000) + tone(1.0, 0)
    events = run(vad, pcm)
    assert sum(isinstance(e, SpeechStarted) for e in events) == 1
    assert sum(isinstance(e, SpeechEnded) for e in events) == 1


def test_a_click_does_not_start_an_utterance() -> None:
    vad = VoiceActivityDetector(VadConfig(start_frames=3))
    events = run(vad, tone(0.5, 0) + tone(0.04, 8000) + tone(0.5, 0))
    assert events == []


def test_steady_noise_is_learnt_as_the_floor() -> None:
    rng = np.random.default_rng(1)
    noise = (rng.standard_normal(16000 * 8) * 400).astype(np.int16).tobytes()  # ~ -38 dBFS
    vad = VoiceActivityDetector(VadConfig(threshold_dbfs=-45, margin_db=12))
    events = run(vad, noise)
    # It may open once at the very start, but the floor rises and it must close and stay closed.
    assert sum(isinstance(e, SpeechStarted) for e in events) <= 1
    assert not vad.in_speech


def test_flush_closes_an_open_utterance_and_max_length_cuts() -> None:
    vad = VoiceActivityDetector(VadConfig(max_utterance_s=1.0))
    events = run(vad, tone(0.2, 0) + tone(2.5, 8000))
    assert [e.reason for e in events if isinstance(e, SpeechEnded)] == ["max_length", "max_length"]
    assert vad.in_speech
    flushed = vad.flush(10.0)
    assert len(flushed) == 1 and isinstance(flushed[0], SpeechEnded) and flushed[0].reason == "flush"
    assert vad.flush(11.0) == []


def test_frame_level() -> None:
    assert frame_dbfs(tone(0.02, 0)) < -100
    assert -4 < frame_dbfs(tone(0.02, 32767)) < -2  # a full-scale sine is -3 dBFS
