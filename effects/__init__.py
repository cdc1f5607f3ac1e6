"""Server-side background effects (blur, image replacement) for published video.

One :class:`~effects.transform.BackgroundEffect` per publisher stream plugs into the
media plane's rendition pipeline as an ``sfu.transform.FrameTransform``: it runs in the
pipeline's worker thread, segments the person with MediaPipe's selfie-segmentation
model (shipped in the mediapipe 0.10.21 wheel, nothing is downloaded) and composites
with OpenCV. The organisation's replacement images live in
:class:`~effects.images.BackgroundImageStore`.

Importing this package does not import mediapipe; the segmenter loads it lazily in the
worker thread, and :func:`~effects.model.check_model` verifies it at server start-up.
"""

from effects.config import EffectsConfig
from effects.errors import (
    EffectsError,
    ImageNotFound,
    ImageRejected,
    InvalidEffectsConfig,
    InvalidEffectSpec,
    ModelMissingError,
)
from effects.spec import BlurStrength, EffectKind, EffectSpec

__all__ = [
    "BlurStrength",
    "EffectKind",
    "EffectSpec",
    "EffectsConfig",
    "EffectsError",
    "ImageNotFound",
    "ImageRejected",
    "InvalidEffectSpec",
    "InvalidEffectsConfig",
    "ModelMissingError",
]
