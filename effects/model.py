"""Where the selfie-segmentation model comes from, and the start-up check.

The model is MediaPipe's selfie segmentation, shipped inside the mediapipe 0.10.21 wheel at
``mediapipe/modules/selfie_segmentation/selfie_segmentation{,_landscape}.tflite`` (about
250 KB each). Nothing is ever downloaded: if the file is not there, the server refuses to
start the effects with a :class:`ModelMissingError` that names the model, every path looked
at and how to install it.

The wheel's folder is found by walking ``sys.path`` the way ``import mediapipe`` would, not
by importing mediapipe (a second or more of start-up, and it must not be needed to tell an
operator what is missing).
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path

from effects.config import EffectsConfig
from effects.errors import ModelMissingError

#: File name of each model variant inside mediapipe's package folder.
MODEL_FILES = {
    "landscape": "selfie_segmentation_landscape.tflite",
    "general": "selfie_segmentation.tflite",
}
MODEL_FOLDER = ("mediapipe", "modules", "selfie_segmentation")
#: TFLite flatbuffers carry this file identifier at bytes 4..8.
TFLITE_IDENTIFIER = b"TFL3"


def model_name(config: EffectsConfig) -> str:
    """The file name the configuration asks for."""
    if config.model_path is not None:
        return config.model_path.name
    return MODEL_FILES[config.model_variant]


def candidate_paths(config: EffectsConfig, search_path: Sequence[str] | None = None) -> list[Path]:
    """Every place the model may be, in order of preference.

    A configured ``model_path`` is the only candidate: an operator who names a file wants
    that file, and silently using another would hide a typo.
    """
    if config.model_path is not None:
        return [config.model_path]
    file_name = MODEL_FILES[config.model_variant]
    entries = sys.path if search_path is None else search_path
    candidates: list[Path] = []
    for entry in entries:
        path = Path(entry or ".").joinpath(*MODEL_FOLDER, file_name)
        if path not in candidates:
            candidates.append(path)
    return candidates


def locate_model(config: EffectsConfig, search_path: Sequence[str] | None = None) -> Path:
    """The first candidate that is a TFLite file; :class:`ModelMissingError` otherwise."""
    candidates = candidate_paths(config, search_path)
    looked = [str(path) for path in candidates]
    not_tflite: list[str] = []
    for path in candidates:
        if not path.is_file():
            continue
        if _is_tflite(path):
            return path
        not_tflite.append(str(path))
    if not_tflite:
        reason = f"{', '.join(not_tflite)} is not a TFLite model (damaged or wrong file)"
    elif config.model_path is not None:
        reason = "the configured effects.model_path does not exist"
    else:
        reason = "no installed mediapipe package ships it"
    raise ModelMissingError(model_name(config), looked, reason)


def check_model(config: EffectsConfig, search_path: Sequence[str] | None = None) -> Path:
    """Start-up check: the model file exists and mediapipe (which runs it) is importable.

    Returns the model's path, to be passed to every segmenter.
    """
    path = locate_model(config, search_path)
    if importlib.util.find_spec("mediapipe") is None:
        raise ModelMissingError(
            model_name(config),
            [str(path)],
            "the model file is there but the mediapipe package that runs it is not installed",
        )
    return path


def _is_tflite(path: Path) -> bool:
    try:
        with path.open("rb") as file:
            head = file.read(8)
    except OSError:
        return False
    return len(head) == 8 and head[4:8] == TFLITE_IDENTIFIER
