"""Configuration of the effects package: one frozen dataclass, validated on construction.

The control package builds it from the configuration file / environment and passes it in;
nothing here reads the environment.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from effects.errors import InvalidEffectsConfig

MODEL_VARIANTS = ("landscape", "general")


@dataclass(frozen=True)
class EffectsConfig:
    #: A .tflite selfie-segmentation model to use instead of the one in the mediapipe wheel.
    model_path: Path | None = None
    #: "landscape" (256x144 input, faster, made for 16:9 / 4:3 video) or "general" (256x256).
    model_variant: str = "landscape"

    #: Upload limits for the organisation's background images.
    max_image_bytes: int = 5 * 1024 * 1024
    min_image_width: int = 160
    min_image_height: int = 90
    max_image_width: int = 4096
    max_image_height: int = 4096
    max_images_per_org: int = 20
    #: Decoded images are kept scaled down to just cover this size (the largest video we
    #: process), so an organisation's set costs a few MB per image rather than 50.
    max_output_width: int = 1280
    max_output_height: int = 720

    #: Weight of the newest mask in the exponential moving average (1.0 = no smoothing).
    mask_smoothing: float = 0.5
    #: Feathering of the mask edge: Gaussian sigma as a fraction of the frame height.
    feather: float = 0.006
    #: Confidence at or below ``mask_low`` is background, at or above ``mask_high`` person;
    #: in between ramps linearly (sharpens the model's soft edge before feathering).
    mask_low: float = 0.3
    mask_high: float = 0.7

    #: Load shedding: when the machine cannot keep up, segment only every Nth frame, up to this.
    max_segment_every: int = 4
    #: Segment every Nth frame even with time to spare: 2 halves the segmentation cost (about
    #: a third of a blurred frame) at the price of a mask one frame late on moving edges.
    min_segment_every: int = 1
    #: Frame interval assumed until two timestamps have been seen.
    default_fps: float = 30.0

    def __post_init__(self) -> None:
        if self.model_path is not None and not isinstance(self.model_path, Path):
            object.__setattr__(self, "model_path", Path(self.model_path))
        if self.model_variant not in MODEL_VARIANTS:
            raise InvalidEffectsConfig(
                f"model_variant: must be one of {', '.join(MODEL_VARIANTS)}, got {self.model_variant!r}"
            )
        _positive_int("max_image_bytes", self.max_image_bytes)
        for name in (
            "min_image_width",
            "min_image_height",
            "max_image_width",
            "max_image_height",
            "max_images_per_org",
            "max_output_width",
            "max_output_height",
            "max_segment_every",
            "min_segment_every",
        ):
            _positive_int(name, getattr(self, name))
        if self.min_image_width > self.max_image_width or self.min_image_height > self.max_image_height:
            raise InvalidEffectsConfig("min_image_width/height: must not exceed max_image_width/height")
        if self.min_segment_every > self.max_segment_every:
            raise InvalidEffectsConfig(
                f"min_segment_every: must not exceed max_segment_every ({self.max_segment_every}), "
                f"got {self.min_segment_every}"
            )
        if not 0.0 < self.mask_smoothing <= 1.0:
            raise InvalidEffectsConfig(f"mask_smoothing: must be in (0, 1], got {self.mask_smoothing}")
        if not 0.0 <= self.feather <= 0.1:
            raise InvalidEffectsConfig(f"feather: must be in [0, 0.1], got {self.feather}")
        if not 0.0 <= self.mask_low < self.mask_high <= 1.0:
            raise InvalidEffectsConfig(
                f"mask_low/mask_high: need 0 <= mask_low < mask_high <= 1, got {self.mask_low}, {self.mask_high}"
            )
        if not 1.0 <= self.default_fps <= 120.0:
            raise InvalidEffectsConfig(f"default_fps: must be in [1, 120], got {self.default_fps}")


def _positive_int(name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise InvalidEffectsConfig(f"{name}: must be a positive integer, got {value!r}")
