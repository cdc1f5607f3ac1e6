"""OpenCV compositing of a person over a blurred or replaced background.

Pure functions on numpy arrays (BGR uint8 frames, float32 or uint8 masks); no state.

Cost at 640x480 on one core (development machine): blurring at full resolution with a
large Gaussian takes ~16 ms, so the background is blurred at a reduced size (120 rows for
light, 40 for strong, see :class:`BlurRecipe`) and scaled back up (~0.4-0.6 ms); the
scaling itself adds to the blur. Compositing stays in uint8 with OpenCV's saturating multiply/add (~0.3 ms,
at most 1 level off the exact float result) instead of float arithmetic in numpy (~3 ms).
Blur is proportional to the frame's size, so a 320x180 and a 1280x720 stream look alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from effects.errors import FrameShapeMismatch
from effects.spec import BlurStrength

BgrImage = npt.NDArray[np.uint8]
Alpha = npt.NDArray[np.uint8]
FloatMask = npt.NDArray[np.float32]


@dataclass(frozen=True)
class BlurRecipe:
    """The background is blurred at ``small_height`` rows with Gaussian ``sigma`` (in those rows).

    Working at a fixed number of rows makes the blur the same fraction of the picture at
    every frame size (sigma / small_height: ~2% light, ~6% strong), and keeps the cost
    flat: a 1280x720 frame is blurred at 213x120 (light) like a 320x180 one.
    """

    small_height: int
    sigma: float


BLUR_RECIPES = {
    BlurStrength.LIGHT: BlurRecipe(small_height=120, sigma=2.5),
    BlurStrength.STRONG: BlurRecipe(small_height=40, sigma=2.5),
}


def alpha_for_frame(mask: FloatMask, width: int, height: int) -> Alpha:
    """The person mask (float in [0, 1], any size) as uint8 alpha (255 = person) at frame size."""
    alpha8 = cv2.convertScaleAbs(mask, alpha=255.0)
    if alpha8.shape[:2] != (height, width):
        alpha8 = cv2.resize(alpha8, (width, height), interpolation=cv2.INTER_LINEAR)
    return np.asarray(alpha8, dtype=np.uint8)


def blurred(frame: BgrImage, strength: BlurStrength, person: FloatMask | None = None) -> BgrImage:
    """The whole frame (or one plane) blurred at reduced resolution, scaled back to its size.

    With ``person`` (the mask, any size), the blur averages background pixels only
    (normalised convolution: blur(image x w) / blur(w), w = 1 - mask), so the person's
    colours do not bleed into the blurred background as a halo around the silhouette.
    Person pixels keep a small weight so that deep inside the silhouette, far from any
    background, the average stays defined (those pixels are covered by the person anyway).
    """
    recipe = BLUR_RECIPES[strength]
    height, width = frame.shape[:2]
    scale = min(1.0, recipe.small_height / height)  # never upscale a small frame
    small_size = (max(1, round(width * scale)), max(1, round(height * scale)))
    sigma = recipe.sigma * small_size[1] / recipe.small_height  # same fraction of the picture
    small: BgrImage = frame if scale == 1.0 else np.asarray(cv2.resize(frame, small_size, interpolation=cv2.INTER_AREA))
    if person is None:
        small = np.asarray(cv2.GaussianBlur(small, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REPLICATE))
    else:
        small = _background_only_blur(small, person, sigma)
    if scale == 1.0:
        return np.asarray(small, dtype=np.uint8)
    return np.asarray(cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR), dtype=np.uint8)


#: Weight left to person pixels in the background-only blur.
PERSON_WEIGHT = 0.02


def _background_only_blur(small: BgrImage, person: FloatMask, sigma: float) -> BgrImage:
    height, width = small.shape[:2]
    mask = person if person.shape == (height, width) else cv2.resize(person, (width, height), interpolation=cv2.INTER_AREA)
    weight = np.asarray(1.0 - (1.0 - PERSON_WEIGHT) * mask, dtype=np.float32)
    weighted = small.astype(np.float32) * (weight[:, :, None] if small.ndim == 3 else weight)
    numerator = cv2.GaussianBlur(weighted, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REPLICATE)
    denominator = cv2.GaussianBlur(weight, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REPLICATE)
    if small.ndim == 3:
        denominator = denominator[:, :, None]
    return np.asarray(np.clip(numerator / denominator + 0.5, 0, 255), dtype=np.uint8)


def composite(person: BgrImage, background: BgrImage, alpha: Alpha) -> BgrImage:
    """``person * alpha + background * (1 - alpha)`` per pixel, in uint8 (alpha 255 = person).

    Works on 3-channel images and on single planes (Y, U or V) alike. Where alpha is 255
    the person's pixels come out bit-exact.
    """
    if person.shape != background.shape:
        raise FrameShapeMismatch(f"background: shape {background.shape} differs from the frame's {person.shape}")
    if alpha.shape != person.shape[:2]:
        raise FrameShapeMismatch(f"alpha: shape {alpha.shape} differs from the frame's {person.shape[:2]}")
    weights = cv2.cvtColor(alpha, cv2.COLOR_GRAY2BGR) if person.ndim == 3 else alpha
    front = cv2.multiply(person, weights, scale=1.0 / 255.0)
    back = cv2.multiply(background, cv2.bitwise_not(weights), scale=1.0 / 255.0)
    return np.asarray(cv2.add(front, back), dtype=np.uint8)


def blur_background(
    frame: BgrImage, alpha: Alpha, strength: BlurStrength, person: FloatMask | None = None
) -> BgrImage:
    """The person sharp over the same frame blurred (background-only blur if ``person`` given)."""
    return composite(frame, blurred(frame, strength, person), alpha)


def replace_background(frame: BgrImage, alpha: Alpha, background: BgrImage) -> BgrImage:
    """The person over ``background`` (already at the frame's size, see images.StoredImage)."""
    return composite(frame, background, alpha)


def cover(image: BgrImage, width: int, height: int) -> BgrImage:
    """``image`` scaled to cover width x height (aspect ratio kept) and centre-cropped."""
    src_height, src_width = image.shape[:2]
    scale = max(width / src_width, height / src_height)
    scaled_width = max(width, round(src_width * scale))
    scaled_height = max(height, round(src_height * scale))
    interpolation = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
    scaled = cv2.resize(image, (scaled_width, scaled_height), interpolation=interpolation)
    left = (scaled_width - width) // 2
    top = (scaled_height - height) // 2
    return np.ascontiguousarray(scaled[top : top + height, left : left + width])
