"""SpeechCatalog: bundled models, the models folder, and the clear error for a missing one."""

from __future__ import annotations

from pathlib import Path

import pytest

from captions.errors import InvalidLanguage, LanguageUnavailable
from captions.languages import EngineKind, SpeechCatalog, normalise_language


def fake_vosk_model(folder: Path) -> None:
    (folder / "am").mkdir(parents=True)
    (folder / "am" / "final.mdl").write_bytes(b"\0")


def test_bundled_models_give_english_and_korean(tmp_path: Path) -> None:
    catalog = SpeechCatalog(tmp_path / "none")
    assert catalog.languages() == ["en", "ko"]
    assert catalog.resolve("en").engine is EngineKind.SPHINX
    assert catalog.resolve("ko").engine is EngineKind.VOSK
    assert catalog.resolve("en-US").language == "en"  # region falls back to the language


def test_a_dropped_in_vosk_folder_adds_a_language_and_wins(tmp_path: Path) -> None:
    catalog = SpeechCatalog(tmp_path)
    fake_vosk_model(tmp_path / "fr")
    fake_vosk_model(tmp_path / "en")
    (tmp_path / "de").mkdir()  # not a model: ignored
    assert catalog.languages() == ["en", "fr", "ko"]
    assert catalog.resolve("fr").path == tmp_path / "fr"
    assert catalog.resolve("en").engine is EngineKind.VOSK


def test_missing_language_lists_what_exists_and_how_to_add(tmp_path: Path) -> None:
    catalog = SpeechCatalog(tmp_path / "models")
    with pytest.raises(LanguageUnavailable) as caught:
        catalog.resolve("de", "speak_lang")
    message = str(caught.value)
    assert "'de'" in message and "speak_lang" in message
    assert "en (pocketsphinx" in message and "ko (vosk" in message
    assert str(tmp_path / "models") in message and "vosk model folder named 'de'" in message
    assert "pip install" in message
    assert caught.value.available == ["en", "ko"]


@pytest.mark.parametrize("bad", ["", "english", "e", "en us", "../en", "12"])
def test_malformed_codes_name_the_field(bad: str) -> None:
    with pytest.raises(InvalidLanguage, match="field 'read_lang'"):
        normalise_language(bad, "read_lang")
    assert normalise_language("pt_BR") == "pt-br"
