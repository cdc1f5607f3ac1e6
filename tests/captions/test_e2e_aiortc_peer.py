"""End to end without mocks: a real aiortc peer publishes synthesised English speech to the
real server over loopback; the SFU hands each RTP packet of the producer to the caption
service's tap (attached here directly with ``room.add_audio_tap``, as control/ will do),
and the service's listener gets final captions attributed to the peer's participant id.

Word error rate threshold: 0.35 over the three sentences (see test_service.py).
"""

from __future__ import annotations

import asyncio
import fractions
import time
from collections.abc import Callable
from typing import Any

import aioice.ice
import av
import numpy as np
import pytest
from aiortc.mediastreams import MediaStreamTrack

from captions.config import CaptionsConfig
from sfu.ids import ProducerId, RoomId
from tests.captions.speech import RATE, synthesize, word_error_rate
from tests.support.peer import TestPeer
from tests.support.server import RunningServer

pytestmark = pytest.mark.long

SENTENCES = [
    "how are you feeling today",
    "please take one tablet twice a day after meals",
    "do you have any allergies to medicine",
]


class SpeechTrack(MediaStreamTrack):
    """Plays ``samples`` (48 kHz mono int16) in real time, in 20 ms frames, then silence."""

    kind = "audio"

    def __init__(self, samples: np.ndarray) -> None:
        super().__init__()
        self._samples = samples
        self._sent = 0
        self._start: float | None = None

    async def recv(self) -> av.AudioFrame:
        n = RATE // 50
        if self._start is None:
            self._start = time.monotonic()
        delay = self._start + self._sent / RATE - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        chunk = self._samples[self._sent:self._sent + n]
        chunk = np.concatenate([chunk, np.zeros(n - len(chunk), np.int16)])
        frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = RATE
        frame.pts = self._sent
        frame.time_base = fractions.Fraction(1, RATE)
        self._sent += n
        return frame


@pytest.fixture
def loopback_ice(monkeypatch: pytest.MonkeyPatch) -> None:
    """aioice leaves 127.0.0.1 out of its host candidates; our peer lives on loopback."""
    monkeypatch.setattr(aioice.ice, "get_host_addresses",
                        lambda use_ipv4=True, use_ipv6=True: ["127.0.0.1"])


async def test_captions_from_a_real_peer_through_the_sfu(
    server: RunningServer, loopback_ice: None, start_service: Callable[..., Any],
    captions_config: CaptionsConfig,
) -> None:
    service, log = await start_service(captions_config)
    gap = np.zeros(RATE, np.int16)
    parts = [np.zeros(RATE * 2, np.int16)]
    for sentence in SENTENCES:
        parts += [await asyncio.to_thread(synthesize, sentence), gap]
    peer = TestPeer(server.ws_url, server.token("cc-e2e", "dr-alice", role="practitioner"),
                    name="alice")
    try:
        joined = await peer.connect()
        assert joined["type"] == "joined", joined
        producers = await peer.publish([(SpeechTrack(np.concatenate(parts)), "microphone")])
        producer_id = producers[0]["producer_id"]
        participant_id = joined["participant_id"]
        room = server.media.find_room(RoomId("cc-e2e"))
        assert room is not None
        tap = service.attach_speaker("cc-e2e", participant_id, producer_id, "en")
        service.set_listener("cc-e2e", "patient-bob", "en")
        room.add_audio_tap(ProducerId(producer_id), tap)
        await log.wait_until(lambda: len(log.finals()) >= len(SENTENCES), timeout=40)
        await asyncio.sleep(1.0)
        finals = log.finals()
        assert {e.speaker_id for e in finals} == {participant_id}
        assert all(e.listener_ids == ("patient-bob",) for e in finals)
        heard = " ".join(e.text for e in finals)
        wer = word_error_rate(" ".join(SENTENCES), heard)
        assert wer <= 0.35, f"WER {wer:.2f}: heard {heard!r}"
        assert service.dump()["speakers"][0]["dropped_packets"] == 0
        room.remove_audio_tap(ProducerId(producer_id), tap)
    finally:
        await peer.close()
