"""Fixtures for captions tests: no network at all, tiny argos packages built offline."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from captions.config import CaptionsConfig
from captions.netguard import allow_network, forbid_network
from captions.room_state import CaptionEvent, CaptionsOutput, CaptionWithdrawn
from captions.service import CaptionService
from captions.translate import install_model
from tests.captions.build_argos_model import build_package
from tests.captions.speech import AMPLE_BUDGET_S


@pytest.fixture(autouse=True)
def no_network() -> Iterator[None]:
    """Any non-loopback connection in the test process raises (workers guard themselves)."""
    forbid_network()
    yield
    allow_network()


@pytest.fixture(scope="session")
def argos_files(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Path]:
    folder = tmp_path_factory.mktemp("argos-files")
    return {pair: build_package(*pair, folder) for pair in (("en", "fr"), ("ko", "en"))}


@pytest.fixture
def translation_folder(tmp_path: Path, argos_files: dict[tuple[str, str], Path]) -> Path:
    folder = tmp_path / "translate"
    for file in argos_files.values():
        install_model(file, folder)
    return folder


@pytest.fixture
def captions_config(tmp_path: Path, translation_folder: Path) -> CaptionsConfig:
    return CaptionsConfig(
        models_folder=tmp_path / "vosk",
        translation_folder=translation_folder,
        preload_languages=("en",),
        final_target_s=AMPLE_BUDGET_S,
        behind_s=AMPLE_BUDGET_S,
    )


class EventLog:
    def __init__(self) -> None:
        self.events: list[CaptionEvent] = []
        self.withdrawals: list[CaptionWithdrawn] = []
        self.outputs: list[CaptionsOutput] = []  # both, in arrival order
        self._changed = asyncio.Event()

    def __call__(self, event: CaptionsOutput) -> None:
        self.outputs.append(event)
        if isinstance(event, CaptionEvent):
            self.events.append(event)
        else:
            self.withdrawals.append(event)
        self._changed.set()

    async def wait_until(self, condition: Callable[[], bool], timeout: float = 20.0) -> None:
        async with asyncio.timeout(timeout):
            while not condition():
                self._changed.clear()
                await self._changed.wait()

    def finals(self, listener: str | None = None) -> list[CaptionEvent]:
        return [e for e in self.events if e.final and (listener is None or listener in e.listener_ids)]

    def for_listener(self, listener: str) -> list[CaptionEvent]:
        return [e for e in self.events if listener in e.listener_ids]


@pytest.fixture
async def start_service() -> AsyncIterator[Callable[..., Any]]:
    """``await start_service(config)`` -> (service, event log); closed after the test."""
    async with contextlib.AsyncExitStack() as stack:

        async def start(config: CaptionsConfig) -> tuple[CaptionService, EventLog]:
            log = EventLog()
            service = CaptionService(config, on_event=log)
            await service.start()
            stack.push_async_callback(service.close)
            await service.wait_ready()
            return service, log

        yield start
