"""``[captions]`` settings: file values and environment text converted by field type."""

from __future__ import annotations

from pathlib import Path

import pytest

from control.config import ConfigError
from control.features.captions.config import captions_settings_from


def test_environment_text_is_converted_and_folders_follow_the_data_dir(tmp_path: Path) -> None:
    got = captions_settings_from(
        {"recognition_workers": "2", "translation_preload": "off", "dedup_window_s": "1.5",
         "preload_languages": "en, ko", "vad_hangover_s": "0.4", "models_folder": "speech",
         "start_workers": "first_use", "default_language": "ko"},
        tmp_path,
    )
    c = got.captions
    assert (c.recognition_workers, c.translation_preload, c.dedup_window_s) == (2, False, 1.5)
    assert c.preload_languages == ("en", "ko") and c.vad.hangover_s == 0.4
    assert c.models_folder == tmp_path / "speech" and c.translation_folder == tmp_path / "models" / "translate"
    assert (got.start_workers, got.default_language) == ("first_use", "ko")


def test_file_values_and_defaults(tmp_path: Path) -> None:
    got = captions_settings_from({"vad": {"threshold_dbfs": -50}, "translation_folder": "/srv/tr"}, tmp_path)
    assert got.captions.vad.threshold_dbfs == -50 and got.captions.translation_folder == Path("/srv/tr")
    assert got.captions.models_folder == tmp_path / "models" / "vosk" and got.start_workers == "startup"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"recognition_workers": "two"}, "captions.recognition_workers must be an integer"),
        ({"recognition_workers": 0}, "captions.recognition_workers must be at least 1"),
        ({"translation_preload": "maybe"}, "captions.translation_preload must be true or false"),
        ({"vad_margin_db": "loud"}, "captions.vad.margin_db must be a number"),
        ({"colour": "red"}, "unknown setting captions.colour"),
        ({"start_workers": "never"}, "captions.start_workers must be one of"),
    ],
)
def test_bad_settings_are_named(tmp_path: Path, raw: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        captions_settings_from(raw, tmp_path)
