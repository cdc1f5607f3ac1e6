"""``[captions]`` settings: file values and environment text, read by the one settings loader."""

from __future__ import annotations

from pathlib import Path

import pytest

from control.config import ConfigError, load


def test_environment_text_is_converted_and_folders_follow_the_data_dir(tmp_path: Path) -> None:
    env = {
        "CONSULT_SFU_DATA_DIR": str(tmp_path),
        "CONSULT_SFU_CAPTIONS_RECOGNITION_WORKERS": "2", "CONSULT_SFU_CAPTIONS_TRANSLATION_PRELOAD": "off",
        "CONSULT_SFU_CAPTIONS_DEDUP_WINDOW_S": "1.5", "CONSULT_SFU_CAPTIONS_PRELOAD_LANGUAGES": "en, ko",
        "CONSULT_SFU_CAPTIONS_VAD_HANGOVER_S": "0.4", "CONSULT_SFU_CAPTIONS_MODELS_FOLDER": "speech",
        "CONSULT_SFU_CAPTIONS_START_WORKERS": "first_use", "CONSULT_SFU_CAPTIONS_DEFAULT_LANGUAGE": "ko",
    }
    got = load(None, env=env).captions
    c = got.captions
    assert (c.recognition_workers, c.translation_preload, c.dedup_window_s) == (2, False, 1.5)
    assert c.preload_languages == ("en", "ko") and c.vad.hangover_s == 0.4
    assert c.models_folder == tmp_path / "speech" and c.translation_folder == tmp_path / "models" / "translate"
    assert (got.start_workers, got.default_language) == ("first_use", "ko")


def test_file_values_and_defaults(tmp_path: Path) -> None:
    path = tmp_path / "sfu.toml"
    path.write_text('[captions]\ntranslation_folder = "/srv/tr"\n\n[captions.vad]\nthreshold_dbfs = -50\n')
    got = load(str(path), env={"CONSULT_SFU_DATA_DIR": str(tmp_path), "CONSULT_SFU_CAPTIONS_VAD_MARGIN_DB": "10"}).captions
    assert got.captions.vad.threshold_dbfs == -50 and got.captions.translation_folder == Path("/srv/tr")
    assert got.captions.vad.margin_db == 10  # a variable adds to the file's [captions.vad]
    assert got.captions.models_folder == tmp_path / "models" / "vosk" and got.start_workers == "first_use"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"recognition_workers": "two"}, "captions.recognition_workers must be an integer"),
        ({"recognition_workers": 0}, "captions.recognition_workers must be at least 1"),
        ({"translation_preload": "maybe"}, "captions.translation_preload must be true or false"),
        ({"vad_margin_db": "loud"}, "captions.vad.margin_db must be a number"),
        ({"colour": "red"}, "unknown setting captions.colour"),
        ({"start_workers": "never"}, "captions.start_workers must be one of startup, first_use"),
        ({"ready_timeout_s": 0}, "captions.ready_timeout_s must be positive"),
    ],
)
def test_bad_settings_are_named(tmp_path: Path, raw: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        load(None, env={}, server__data_dir=str(tmp_path), **{f"captions__{k}": v for k, v in raw.items()})
