"""Translation: installing .argosmodel files, routes with an English pivot, offline translation."""

from __future__ import annotations

import json
import socket
import zipfile
from pathlib import Path

import pytest

from captions.errors import LanguageUnavailable, ModelInstallError
from captions.netguard import NetworkForbidden
from captions.translate import (
    OfflineSentenceSplitter,
    OfflineTranslator,
    TranslationCatalog,
    argos_environment,
    install_model,
)
from tests.captions.build_argos_model import PHRASES


def test_install_and_routes(tmp_path: Path, argos_files: dict[tuple[str, str], Path]) -> None:
    folder = tmp_path / "translate"
    installed = install_model(argos_files[("en", "fr")], folder)
    assert (installed.from_code, installed.to_code) == ("en", "fr")
    assert (installed.path / "model" / "model.bin").is_file()
    install_model(argos_files[("ko", "en")], folder)
    install_model(argos_files[("ko", "en")], folder)  # reinstall replaces, no duplicate
    catalog = TranslationCatalog(folder)
    assert sorted(catalog.packages()) == [("en", "fr"), ("ko", "en")]
    assert catalog.route("en", "fr") == [("en", "fr")]
    assert catalog.route("ko", "fr") == [("ko", "en"), ("en", "fr")]  # pivot through English
    assert catalog.route("en", "en") == []
    assert catalog.route("fr", "ko") is None
    assert catalog.require_readable("FR", ["en", "ko"]) == "fr"
    with pytest.raises(LanguageUnavailable, match="models install FILE"):
        catalog.require_readable("de", ["en", "ko"])


def test_install_rejects_bad_files(tmp_path: Path) -> None:
    folder = tmp_path / "translate"
    not_zip = tmp_path / "x.argosmodel"
    not_zip.write_bytes(b"hello")
    with pytest.raises(ModelInstallError, match="not a zip"):
        install_model(not_zip, folder)
    with pytest.raises(ModelInstallError, match="no such file"):
        install_model(tmp_path / "missing.argosmodel", folder)
    evil = tmp_path / "evil.argosmodel"
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr("../escape/metadata.json", "{}")
    with pytest.raises(ModelInstallError, match="unsafe path"):
        install_model(evil, folder)
    no_model = tmp_path / "nomodel.argosmodel"
    with zipfile.ZipFile(no_model, "w") as archive:
        archive.writestr("pkg/metadata.json", json.dumps({"from_code": "en", "to_code": "fr"}))
        archive.writestr("pkg/sentencepiece.model", "x")
    with pytest.raises(ModelInstallError, match=r"model\.bin"):
        install_model(no_model, folder)
    bad_code = tmp_path / "badcode.argosmodel"
    with zipfile.ZipFile(bad_code, "w") as archive:
        archive.writestr("pkg/metadata.json", json.dumps({"from_code": "english", "to_code": "fr"}))
    with pytest.raises(ModelInstallError, match="from_code"):
        install_model(bad_code, folder)
    assert TranslationCatalog(folder).packages() == {}


def test_sentence_splitter_needs_nothing() -> None:
    splitter = OfflineSentenceSplitter()
    assert splitter.split_sentences("Hello there. How are you? Fine!") == [
        "Hello there.", "How are you?", "Fine!"]
    assert splitter.split_sentences("no punctuation") == ["no punctuation"]
    assert splitter.split_sentences("안녕하세요。 감사합니다") == ["안녕하세요。", "감사합니다"]


def test_offline_translation_through_argostranslate(
    translation_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The autouse fixture forbids the network in this process: prove it first.
    with pytest.raises(NetworkForbidden):
        socket.create_connection(("192.0.2.1", 80), timeout=1)
    for name, value in argos_environment(translation_folder, beam_size=2).items():
        monkeypatch.setenv(name, value)
    translator = OfflineTranslator(translation_folder)
    translator.warm_up()
    assert translator.translate("how are you feeling today", "en", "fr") == PHRASES[("en", "fr")]
    # Two sentences are split offline and translated one by one.
    two = translator.translate("Hello. How are you?", "en", "fr")
    assert two == f"{PHRASES[('en', 'fr')]} {PHRASES[('en', 'fr')]}"
    # No ko -> fr package: pivot through English.
    assert translator.translate("안녕하세요", "ko", "fr") == PHRASES[("en", "fr")]
    assert translator.translate("안녕하세요", "ko", "en") == PHRASES[("ko", "en")]
    with pytest.raises(LanguageUnavailable):
        translator.translate("hallo", "de", "fr")
    assert translator.translations == 4
