"""Translation with argostranslate packages (``.argosmodel``), offline.

Installed packages live in a configured folder, one sub-folder per package, each with
``metadata.json``, ``model/`` (CTranslate2) and ``sentencepiece.model``.
:func:`install_model` is what ``consult-sfu models install FILE`` calls.

No network, ever. argostranslate's ``PackageTranslation`` picks a sentence splitter
(stanza or minisbd) that downloads a model on first use, and its package functions talk
to the package index. So we use argostranslate only for what is offline: the package
loader (``argostranslate.package.Package``: metadata and tokenizer) and the translation
routine (``argostranslate.translate.apply_packaged_translation``), to which we hand our
own :class:`OfflineSentenceSplitter` (punctuation rules, no model) and a CTranslate2
``Translator`` we create. argostranslate reads its settings from the environment when it
is imported and creates folders under ``$HOME``; :func:`prepare_argos_environment` points
them into the translation folder and is called before the import, in the worker process.

When no package translates ``src -> dst`` directly, we pivot through English
(``src -> en -> dst``), as argostranslate itself does.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from captions.errors import LanguageUnavailable, ModelInstallError
from captions.languages import normalise_language

PIVOT = "en"


@dataclass(frozen=True)
class TranslationPackage:
    from_code: str
    to_code: str
    path: Path
    version: str = ""


def _read_metadata(path: Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    if not isinstance(data, dict):
        raise ValueError("metadata.json must hold a JSON object")
    return data


def _package_from_folder(folder: Path) -> TranslationPackage | None:
    meta_path = folder / "metadata.json"
    if not meta_path.is_file() or not (folder / "model" / "model.bin").is_file():
        return None
    try:
        meta = _read_metadata(meta_path)
        if meta.get("type", "translate") != "translate":
            return None
        src = normalise_language(str(meta.get("from_code")), "from_code")
        dst = normalise_language(str(meta.get("to_code")), "to_code")
    except (ValueError, OSError):
        return None
    return TranslationPackage(src, dst, folder, str(meta.get("package_version", "")))


class TranslationCatalog:
    """The installed translation packages.

    The scan is cached until the folder's modification time changes (installing or
    removing a package renames a sub-folder, which changes it), so asking for a route
    on every final caption costs one ``stat``.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._cache: tuple[float, dict[tuple[str, str], TranslationPackage]] | None = None

    def packages(self) -> dict[tuple[str, str], TranslationPackage]:
        try:
            stamp = self.folder.stat().st_mtime
        except OSError:
            return {}
        if self._cache is not None and self._cache[0] == stamp:
            return dict(self._cache[1])
        found: dict[tuple[str, str], TranslationPackage] = {}
        for child in sorted(self.folder.iterdir()):
            package = _package_from_folder(child) if child.is_dir() else None
            if package is not None:
                found[(package.from_code, package.to_code)] = package
        self._cache = (stamp, found)
        return dict(found)

    def route(self, src: str, dst: str) -> list[tuple[str, str]] | None:
        """The pairs to chain for ``src -> dst``: [] same language, None impossible."""
        if src == dst:
            return []
        pairs = self.packages()
        if (src, dst) in pairs:
            return [(src, dst)]
        if (src, PIVOT) in pairs and (PIVOT, dst) in pairs:
            return [(src, PIVOT), (PIVOT, dst)]
        return None

    def targets(self) -> set[str]:
        return {dst for _, dst in self.packages()}

    def require_readable(self, code: str, speakable: list[str], field: str = "read_lang") -> str:
        """Check that a listener can read ``code``: spoken, or a translation target."""
        norm = normalise_language(code, field)
        readable = sorted(set(speakable) | self.targets())
        if norm in readable:
            return norm
        raise LanguageUnavailable(
            f"captions cannot be shown in {norm!r} (field '{field}'): no speech model and no "
            f"translation package for it. Readable: {', '.join(readable) or 'none'}. To add "
            f"one, install an argostranslate package (.argosmodel) translating into {norm!r} "
            f"with 'consult-sfu models install FILE' (into {self.folder}).",
            norm,
            readable,
        )


# ---------------------------------------------------------------- installing


def _safe_members(archive: zipfile.ZipFile) -> list[str]:
    names = archive.namelist()
    for name in names:
        pure = PurePosixPath(name)
        if pure.is_absolute() or ".." in pure.parts or "\\" in name:
            raise ModelInstallError(f"refusing archive member with an unsafe path: {name!r}")
    return names


def install_model(file: Path, folder: Path) -> TranslationPackage:
    """Install a ``.argosmodel`` file into ``folder``; replaces a package of the same pair.

    Validates before touching ``folder``: a zip archive whose single top folder (or root)
    holds ``metadata.json`` with valid ``from_code``/``to_code``, ``model/model.bin`` and a
    tokenizer (``sentencepiece.model`` or ``bpe.model``).
    """
    file = Path(file)
    if not file.is_file():
        raise ModelInstallError(f"no such file: {file}")
    if not zipfile.is_zipfile(file):
        raise ModelInstallError(f"{file} is not an argostranslate package (not a zip archive)")
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".installing-") as tmp:
        with zipfile.ZipFile(file) as archive:
            _safe_members(archive)
            archive.extractall(tmp)
        root = Path(tmp)
        if not (root / "metadata.json").is_file():
            tops = [p for p in root.iterdir() if p.is_dir()]
            if len(tops) != 1 or not (tops[0] / "metadata.json").is_file():
                raise ModelInstallError(f"{file}: metadata.json not found in the archive")
            root = tops[0]
        try:
            meta = _read_metadata(root / "metadata.json")
        except (ValueError, OSError) as exc:
            raise ModelInstallError(f"{file}: metadata.json is not valid JSON: {exc}") from None
        try:
            src = normalise_language(str(meta.get("from_code")), "from_code")
            dst = normalise_language(str(meta.get("to_code")), "to_code")
        except ValueError as exc:
            raise ModelInstallError(f"{file}: metadata.json {exc}") from None
        if not (root / "model" / "model.bin").is_file():
            raise ModelInstallError(f"{file}: model/model.bin (CTranslate2 model) is missing")
        if not ((root / "sentencepiece.model").is_file() or (root / "bpe.model").is_file()):
            raise ModelInstallError(f"{file}: sentencepiece.model or bpe.model is missing")
        target = folder / f"translate-{src}_{dst}"
        for (old_src, old_dst), old in TranslationCatalog(folder).packages().items():
            if (old_src, old_dst) == (src, dst):
                shutil.rmtree(old.path)
        if target.exists():
            shutil.rmtree(target)
        os.replace(root, target)
    package = _package_from_folder(target)
    if package is None:  # cannot happen after the checks above; kept as a clear error
        raise ModelInstallError(f"{file}: installed but not loadable from {target}")
    return package


# ---------------------------------------------------------------- translating (worker side)


class OfflineSentenceSplitter:
    """Splits on sentence punctuation (Latin, CJK); needs no model and no network.

    Caption segments are one utterance, rarely more than two sentences, so rules suffice.
    Implements argostranslate's ``ISentenceBoundaryDetectionModel`` duck type.
    """

    _BOUNDARY = re.compile(r"(?<=[.!?\u3002\uff01\uff1f])\s+")

    def split_sentences(self, text: str) -> list[str]:
        parts = [p.strip() for p in self._BOUNDARY.split(text.strip())]
        return [p for p in parts if p] or [text]


def argos_environment(folder: Path, beam_size: int) -> dict[str, str]:
    """argostranslate's settings (read from the environment at import), kept in ``folder``."""
    home = folder / ".argos-home"
    return {
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_CACHE_HOME": str(home / "cache"),
        "ARGOS_PACKAGES_DIR": str(folder),
        "ARGOS_PACKAGE_INDEX": "http://127.0.0.1:9/",  # never used; never remote
        "ARGOS_DEVICE_TYPE": "cpu",
        "ARGOS_BEAM_SIZE": str(beam_size),
        "ARGOS_CHUNK_TYPE": "NONE",
    }


def prepare_argos_environment(folder: Path, beam_size: int) -> None:
    """Set :func:`argos_environment` in this process; call before importing argostranslate."""
    os.environ.update(argos_environment(folder, beam_size))


class OfflineTranslator:
    """Loads each package once (lazily) and translates, pivoting through English."""

    def __init__(self, folder: Path) -> None:
        self._catalog = TranslationCatalog(folder)
        self._splitter = OfflineSentenceSplitter()
        self._loaded: dict[tuple[str, str], tuple[Any, Any]] = {}
        self.translations = 0

    def warm_up(self, load_packages: bool = True) -> None:
        """Import argostranslate (~2 s, pulls in stanza and torch) before the first caption,
        and load every installed package unless told not to (a real package takes
        ~100 MB of memory: with many installed, let them load at their first use)."""
        import argostranslate.translate  # noqa: F401

        if load_packages:
            for pair in self._catalog.packages():
                self._load(pair)

    def _load(self, pair: tuple[str, str]) -> tuple[Any, Any]:
        loaded = self._loaded.get(pair)
        if loaded is None:
            import ctranslate2
            from argostranslate.package import Package

            package = self._catalog.packages().get(pair)
            if package is None:
                raise LanguageUnavailable(
                    f"no translation package {pair[0]}->{pair[1]}", pair[1], []
                )
            model = ctranslate2.Translator(
                str(package.path / "model"), device="cpu", inter_threads=1, intra_threads=1
            )
            loaded = (Package(package.path), model)
            self._loaded[pair] = loaded
        return loaded

    def translate(self, text: str, src: str, dst: str) -> str:
        route = self._catalog.route(src, dst)
        if route is None:
            raise LanguageUnavailable(f"no translation from {src!r} to {dst!r}", dst, [])
        from argostranslate.translate import apply_packaged_translation

        for pair in route:
            package, model = self._load(pair)
            hypotheses = apply_packaged_translation(package, text, model, self._splitter, 1)
            text = hypotheses[0].value
        self.translations += 1
        return text
