"""Finding the shipped model, and the start-up error when it is missing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from effects.config import EffectsConfig
from effects.errors import ModelMissingError
from effects.model import MODEL_FILES, candidate_paths, check_model, locate_model


def test_finds_the_models_in_the_mediapipe_wheel():
    for variant, file_name in MODEL_FILES.items():
        path = check_model(EffectsConfig(model_variant=variant))
        assert path.name == file_name
        assert path.parent.parts[-3:] == ("mediapipe", "modules", "selfie_segmentation")
        assert path.read_bytes()[4:8] == b"TFL3"


def test_a_configured_copy_is_used(tmp_path):
    copy = tmp_path / "people.tflite"
    shutil.copyfile(check_model(EffectsConfig()), copy)
    assert check_model(EffectsConfig(model_path=copy)) == copy


def test_missing_package_model_names_the_model_every_path_and_the_install_command(tmp_path):
    search_path = [str(tmp_path / "site-packages"), str(tmp_path / "other")]
    with pytest.raises(ModelMissingError) as caught:
        check_model(EffectsConfig(), search_path=search_path)
    message = str(caught.value)
    assert "selfie_segmentation_landscape.tflite" in message
    for entry in search_path:
        expected = Path(entry, "mediapipe", "modules", "selfie_segmentation", "selfie_segmentation_landscape.tflite")
        assert str(expected) in message
    assert "pip install mediapipe==0.10.21" in message
    assert "model_path" in message
    assert caught.value.model == "selfie_segmentation_landscape.tflite"
    assert caught.value.searched == [str(path) for path in candidate_paths(EffectsConfig(), search_path)]


def test_a_configured_path_that_does_not_exist_is_an_error_not_a_fallback(tmp_path):
    missing = tmp_path / "nowhere" / "selfie.tflite"
    with pytest.raises(ModelMissingError) as caught:
        check_model(EffectsConfig(model_path=missing))
    message = str(caught.value)
    assert str(missing) in message
    assert "does not exist" in message
    assert "pip install mediapipe==0.10.21" in message
    assert caught.value.searched == [str(missing)]


def test_a_file_that_is_not_a_tflite_model_is_named(tmp_path):
    fake = tmp_path / "selfie.tflite"
    fake.write_bytes(b"<html>404 not found</html>")
    with pytest.raises(ModelMissingError, match="not a TFLite model") as caught:
        locate_model(EffectsConfig(model_path=fake))
    assert str(fake) in str(caught.value)


def test_the_general_variant_is_looked_for_by_its_own_name(tmp_path):
    with pytest.raises(ModelMissingError, match=r"'selfie_segmentation\.tflite'"):
        check_model(EffectsConfig(model_variant="general"), search_path=[str(tmp_path)])
