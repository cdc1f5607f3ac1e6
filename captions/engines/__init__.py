"""Speech recognition engines behind one interface (see base.py)."""

from __future__ import annotations

from captions.engines.base import EngineFactory
from captions.languages import EngineKind, SpeechModel


def create_factory(model: SpeechModel) -> EngineFactory:
    """Load ``model`` (once: keep the factory) with the engine it needs."""
    if model.engine is EngineKind.VOSK:
        from captions.engines.vosk_engine import VoskFactory

        return VoskFactory(model)
    from captions.engines.sphinx_engine import SphinxFactory

    return SphinxFactory(model)
