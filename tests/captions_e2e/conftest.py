"""Shared pieces of the captions end-to-end tests: the in-process server with captions,
a microphone track the test makes speak on demand, loopback ICE for aiortc peers.

The server's translation folder (``<data_dir>/models/translate``) gets the tiny but real
argos packages that tests/captions/build_argos_model.py builds offline (en->fr, ko->en),
before the server starts, so its translation worker loads them like a real deployment.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aioice.ice
import av
import numpy as np
import pytest
from aiortc.mediastreams import MediaStreamTrack

from captions.translate import install_model
from control.features.captions.feature import FEATURE_KEY, CaptionsFeature
from tests.captions.conftest import argos_files, no_network  # noqa: F401  (fixtures)
from tests.captions.speech import AMPLE_BUDGET_S, RATE, synthesize
from tests.support.peer import TestPeer
from tests.support.server import RunningServer, running_server

FRAME = RATE // 50  # 20 ms


class Microphone(MediaStreamTrack):
    """Silence, except when the test makes it ``say`` something (48 kHz mono int16)."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._queue: list[np.ndarray] = []
        self._current = np.zeros(0, np.int16)
        self._sent = 0
        self._start: float | None = None

    def say(self, samples: np.ndarray, delay_s: float = 0.0) -> None:
        self._queue.append(np.concatenate([np.zeros(int(delay_s * RATE), np.int16), samples]))

    @property
    def speaking(self) -> bool:
        return bool(self._queue) or len(self._current) > 0

    async def recv(self) -> av.AudioFrame:
        if self._start is None:
            self._start = time.monotonic()
        delay = self._start + self._sent / RATE - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        if len(self._current) == 0 and self._queue:
            self._current = self._queue.pop(0)
        chunk, self._current = self._current[:FRAME], self._current[FRAME:]
        chunk = np.concatenate([chunk, np.zeros(FRAME - len(chunk), np.int16)])
        frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = RATE
        frame.pts = self._sent
        frame.time_base = fractions.Fraction(1, RATE)
        self._sent += FRAME
        return frame


async def speech(*sentences: str, voice: str = "en-us+f2", gap_s: float = 1.0) -> np.ndarray:
    """Sentences spoken by espeak-ng with ``gap_s`` of silence after each."""
    gap = np.zeros(int(gap_s * RATE), np.int16)
    parts: list[np.ndarray] = []
    for sentence in sentences:
        parts += [await asyncio.to_thread(synthesize, sentence, voice), gap]
    return np.concatenate(parts)


@pytest.fixture(autouse=True)
def loopback_ice(monkeypatch: pytest.MonkeyPatch) -> None:
    """aioice leaves 127.0.0.1 out of its host candidates; our peers live on loopback."""
    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda use_ipv4=True, use_ipv6=True: ["127.0.0.1"])


def install_translations(data_dir: Path, files: dict[tuple[str, str], Path]) -> None:
    for file in files.values():
        install_model(file, data_dir / "models" / "translate")


@contextlib.asynccontextmanager
async def captions_server(tmp_path: Path, files: dict[tuple[str, str], Path] | None = None, **overrides: Any) -> AsyncIterator[RunningServer]:
    """The real server with captions; returns once its caption workers are ready."""
    if files:
        install_translations(tmp_path, files)
    overrides.setdefault("captions__start_workers", "startup")  # whatever the test server's default
    # What these tests check (the words, who said them, where they show) must not depend on
    # how busy the machine is (see AMPLE_BUDGET_S).
    overrides.setdefault("captions__final_target_s", AMPLE_BUDGET_S)
    overrides.setdefault("captions__behind_s", AMPLE_BUDGET_S)
    async with running_server(tmp_path, **overrides) as server:
        await asyncio.wait_for(feature(server).wait_started(), 120)
        yield server


def feature(server: RunningServer) -> CaptionsFeature:
    return server.app[FEATURE_KEY]


async def join(server: RunningServer, room: str, identity: str, role: str = "client", **kwargs: Any) -> TestPeer:
    peer = TestPeer(server.ws_url, server.token(room, identity, role=role, **kwargs), identity)
    reply = await peer.connect()
    assert reply["type"] == "joined", reply
    return peer


def pid(peer: TestPeer) -> str:
    assert peer.joined is not None
    return str(peer.joined["participant_id"])


def captions_of(peer: TestPeer, final: bool | None = True, after: int = 0) -> list[dict[str, Any]]:
    return [m for m in peer.messages[after:] if m["type"] == "caption" and (final is None or m["final"] is final)]
