"""Named exceptions of the effects package; the control API maps them to HTTP errors.

Every message names the field or thing at fault and the rule it broke, so it can be
shown to an administrator as is.
"""

from __future__ import annotations


class EffectsError(Exception):
    """Base class of every error raised by the effects package."""


class InvalidEffectsConfig(EffectsError, ValueError):
    """A field of :class:`effects.config.EffectsConfig` breaks its rule."""


class InvalidEffectSpec(EffectsError, ValueError):
    """A field of :class:`effects.spec.EffectSpec` breaks its rule (kind, strength, image)."""


class ModelMissingError(EffectsError):
    """The segmentation model (or the mediapipe package that runs it) is not available.

    The message names the model, every path looked at and how to install it.
    """

    def __init__(self, model: str, searched: list[str], reason: str) -> None:
        self.model = model
        self.searched = list(searched)
        self.reason = reason
        looked = "\n".join(f"  - {path}" for path in self.searched) or "  (no path to look at)"
        super().__init__(
            f"background effects need MediaPipe's selfie-segmentation model {model!r}: {reason}.\n"
            f"Paths looked at:\n{looked}\n"
            "Install it with `pip install mediapipe==0.10.21` (its wheel ships the model), "
            "or set effects.model_path in the configuration to a copy of the .tflite file."
        )


class ImageRejected(EffectsError, ValueError):
    """An uploaded background image was refused.

    ``code`` is one of ``unsupported_format``, ``too_large``, ``corrupt``, ``too_small``,
    ``too_many`` (the organisation's set is full), ``invalid_name`` or ``unavailable`` (OpenCV,
    of the ``effects`` extra, is not installed).
    """

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")


class ImageNotFound(EffectsError, KeyError):
    """No image with this id in the organisation's set."""

    def __init__(self, org: str, image_id: str) -> None:
        self.org = org
        self.image_id = image_id
        super().__init__(f"image_id: no background image {image_id!r} in organisation {org!r}")

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


class FrameShapeMismatch(EffectsError, ValueError):
    """Arrays given to the compositor do not have matching sizes."""
