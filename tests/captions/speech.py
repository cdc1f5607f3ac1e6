"""Synthetic speech for caption tests and the benchmark: espeak-ng -> sox -> Opus RTP payloads.

``synthesize`` gives 48 kHz mono int16 samples; ``opus_payloads`` encodes them with
PyAV's libopus into 20 ms packets, as a browser would send them; ``pcm16k`` decodes those
back the way the recognition worker hears them (16 kHz mono s16); ``play`` feeds several
taps at real-time pace (one packet per 20 ms each), the way the SFU calls ``on_packet``.
"""

from __future__ import annotations

import asyncio
import fractions
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import av
import numpy as np

from captions.audio import OpusStreamDecoder

RATE = 48000
FRAME = 960  # 20 ms

#: The recognition time budget (captions.final_target_s and behind_s) of tests that check
#: what is recognised: no machine misses it, so the words do not depend on how busy the
#: machine is (with the default 1 s a loaded machine skips a first utterance's second
#: pass). The budget rules have tests of their own; latency is measured by benchmarks.
AMPLE_BUDGET_S = 30.0

#: What a consultation sounds like: the captions benchmarks speak these (benchmarks/).
CLINIC_SENTENCES = [
    "how are you feeling today",
    "please take one tablet twice a day after meals",
    "do you have any allergies to medicine",
    "the pain started three days ago",
    "can you show me where it hurts",
    "we will do a blood test tomorrow morning",
    "i would like to see you again next week",
    "have you slept well since the last visit",
    "drink plenty of water and rest at home",
    "the results of your test are normal",
]


def synthesize(text: str, voice: str = "en-us+f2", speed: int = 130) -> np.ndarray:
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        raw = Path(tmp) / "speech.raw"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(wav), text],
                       check=True, capture_output=True)
        subprocess.run(["sox", "-D", str(wav), "-r", str(RATE), "-c", "1", "-b", "16", "-e", "signed",
                        str(raw)], check=True, capture_output=True)
        return np.frombuffer(raw.read_bytes(), dtype=np.int16).copy()


@dataclass
class Clip:
    """Opus payloads of one clip and where its speech ends (packet index)."""

    payloads: list[bytes]
    speech_end_packet: int


def opus_payloads(samples: np.ndarray, lead_s: float = 0.4, tail_s: float = 1.2,
                  gain_db: float = 0.0) -> Clip:
    scaled = samples.astype(np.float32) * (10 ** (gain_db / 20))
    speech = np.clip(scaled, -32768, 32767).astype(np.int16)
    loud = np.nonzero(np.abs(speech) > 300)[0]
    lead = np.zeros(int(lead_s * RATE), np.int16)
    signal = np.concatenate([lead, speech, np.zeros(int(tail_s * RATE), np.int16)])
    signal = np.concatenate([signal, np.zeros((-len(signal)) % FRAME, np.int16)])
    speech_end = len(lead) + (int(loud[-1]) if loud.size else len(speech))
    encoder = av.CodecContext.create("libopus", "w")
    encoder.sample_rate = RATE
    encoder.layout = "mono"
    encoder.format = "s16"
    encoder.bit_rate = 32000
    encoder.options = {"frame_duration": "20", "application": "voip"}
    payloads: list[bytes] = []
    for index in range(0, len(signal), FRAME):
        frame = av.AudioFrame.from_ndarray(signal[None, index:index + FRAME], format="s16",
                                           layout="mono")
        frame.sample_rate = RATE
        frame.pts = index
        frame.time_base = fractions.Fraction(1, RATE)
        payloads.extend(bytes(p) for p in encoder.encode(frame))
    payloads.extend(bytes(p) for p in encoder.encode(None))
    return Clip(payloads, speech_end // FRAME)


def pcm16k(text: str, voice: str = "en-us+f2", lead_s: float = 0.15, tail_s: float = 0.0) -> bytes:
    """``text`` spoken, through Opus and back to 16 kHz mono s16 (captions.audio)."""
    clip = opus_payloads(synthesize(text, voice), lead_s=lead_s, tail_s=tail_s)
    decoder = OpusStreamDecoder()
    return b"".join(decoder.decode(p, i * 960).pcm for i, p in enumerate(clip.payloads))


class Tap(Protocol):
    def on_packet(self, payload: bytes, rtp_timestamp: int, sequence_number: int,
                  arrival: float) -> None: ...


@dataclass
class Playback:
    tap: Tap
    clip: Clip
    start_delay_s: float = 0.0
    #: time.monotonic() when the packet with the last speech was handed to the tap.
    speech_ended_at: float | None = None
    first_timestamp: int = 1234
    sequence: int = 100
    sent: int = field(default=0)


async def play(playbacks: list[Playback], speed: float = 1.0) -> None:
    """Feed every playback's packets at ``speed`` x real time, each from its own start delay."""
    packet_s = 0.02 / speed
    start = time.monotonic()
    step = 0
    while any(p.sent < len(p.clip.payloads) for p in playbacks):
        now = time.monotonic()
        for playback in playbacks:
            if playback.sent >= len(playback.clip.payloads):
                continue
            due = start + playback.start_delay_s + playback.sent * packet_s
            if now < due:
                continue
            index = playback.sent
            playback.tap.on_packet(playback.clip.payloads[index],
                                   (playback.first_timestamp + index * FRAME) & 0xFFFFFFFF,
                                   (playback.sequence + index) & 0xFFFF, now)
            if index == playback.clip.speech_end_packet:
                playback.speech_ended_at = now
            playback.sent += 1
        step += 1
        await asyncio.sleep(max(0.0, start + step * packet_s / 2 - time.monotonic()))


def word_error_rate(reference: str, hypothesis: str) -> float:
    ref = reference.lower().split()
    hyp = hypothesis.lower().split()
    previous = list(range(len(hyp) + 1))
    for i, word in enumerate(ref, 1):
        current = [i] + [0] * len(hyp)
        for j, other in enumerate(hyp, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1,
                             previous[j - 1] + (word != other))
        previous = current
    return previous[-1] / max(1, len(ref))


async def speech_clip(text: str, voice: str = "en-us+f2", gain_db: float = 0.0,
                      tail_s: float = 1.2) -> Clip:
    """synthesize + opus_payloads in a thread (espeak-ng and encoding take a while)."""
    samples = await asyncio.to_thread(synthesize, text, voice)
    return await asyncio.to_thread(opus_payloads, samples, 0.4, tail_s, gain_db)
