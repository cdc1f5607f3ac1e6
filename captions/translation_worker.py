"""The translation worker process: argostranslate packages, loaded once, no network."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from captions.netguard import forbid_network
from captions.translate import OfflineTranslator, prepare_argos_environment
from captions.worker_protocol import (
    Stop,
    Translated,
    TranslateRequest,
    TranslationFailed,
    WorkerReady,
)


def translation_main(
    name: str, folder: Path, beam_size: int, preload: bool, inbox: Any, outbox: Any
) -> None:
    """Entry point of a translation worker process."""
    forbid_network()
    prepare_argos_environment(folder, beam_size)
    translator = OfflineTranslator(folder)
    translator.warm_up(preload)  # import (~2 s) and load now, not at the first caption
    outbox.put(WorkerReady(name, ()))
    while True:
        message = inbox.get()
        if isinstance(message, Stop):
            break
        if not isinstance(message, TranslateRequest):
            continue
        started = time.perf_counter()
        try:
            text = translator.translate(message.text, message.source, message.target)
        except Exception as exc:  # report, keep serving the other requests
            outbox.put(TranslationFailed(message.request_id, f"{type(exc).__name__}: {exc}"))
            continue
        outbox.put(Translated(message.request_id, text, time.perf_counter() - started))
