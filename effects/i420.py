"""Effects on decoded frames in their own pixel format, I420 (yuv420p), plane by plane.

The decoder hands us yuv420p. Converting to BGR and back costs ~0.7 ms per 640x480 frame
and, through libswscale's rounding, shifts every pixel (measured: luma -1.5 on average, up
to 6 levels), the person's too. Working on the planes instead costs nothing to get in and
out (``to_ndarray()`` is a copy) and leaves the person's pixels bit-exact where the mask is
solid. Only the segmenter needs RGB, at its small work size.

An I420 array is ``(height * 3 / 2, width)`` uint8: the Y plane, then U and V at half the
width and height, each stored as ``height / 4`` full-width rows (PyAV's and OpenCV's layout).
Width and height must be even.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from effects.compositor import alpha_for_frame, blurred, composite
from effects.errors import FrameShapeMismatch
from effects.spec import BlurStrength

I420Array = npt.NDArray[np.uint8]
FloatMask = npt.NDArray[np.float32]
Plane = npt.NDArray[np.uint8]


def supports(width: int, height: int) -> bool:
    return width % 2 == 0 and height % 2 == 0


def planes(data: I420Array) -> tuple[Plane, Plane, Plane]:
    """Views of the Y, U and V planes of an I420 array (writing to them writes to ``data``)."""
    rows, width = data.shape
    height = rows * 2 // 3
    if rows != height * 3 // 2 or not supports(width, height) or not data.flags["C_CONTIGUOUS"]:
        raise FrameShapeMismatch(f"frame: {data.shape} is not a contiguous I420 array of even width and height")
    # Through the flat buffer: when height is not a multiple of 4 a chroma plane starts mid-row.
    flat = data.reshape(-1)
    luma_size = height * width
    chroma_size = (height // 2) * (width // 2)
    y = data[:height]
    u = flat[luma_size : luma_size + chroma_size].reshape(height // 2, width // 2)
    v = flat[luma_size + chroma_size :].reshape(height // 2, width // 2)
    return y, u, v


def to_rgb(data: I420Array) -> npt.NDArray[np.uint8]:
    return np.asarray(cv2.cvtColor(data, cv2.COLOR_YUV2RGB_I420), dtype=np.uint8)


def from_bgr(image: npt.NDArray[np.uint8]) -> I420Array:
    """BT.601 limited range, as the decoder's frames (used for replacement images)."""
    return np.asarray(cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420), dtype=np.uint8)


def blurred_i420(data: I420Array, strength: BlurStrength, person: FloatMask | None = None) -> I420Array:
    """Each plane blurred (see :func:`effects.compositor.blurred`; ``person`` avoids the halo)."""
    out = np.empty_like(data)
    for source, target in zip(planes(data), planes(out), strict=True):
        target[...] = blurred(source, strength, person)
    return out


def composite_i420(person: I420Array, background: I420Array, mask: FloatMask) -> I420Array:
    """The person (mask 1) over the background (mask 0), plane by plane."""
    if person.shape != background.shape:
        raise FrameShapeMismatch(f"background: shape {background.shape} differs from the frame's {person.shape}")
    out = np.empty_like(person)
    person_y = planes(person)[0]
    height, width = person_y.shape
    alpha_luma = alpha_for_frame(mask, width, height)
    alpha_chroma = alpha_for_frame(mask, width // 2, height // 2)
    alphas = (alpha_luma, alpha_chroma, alpha_chroma)
    for source, back, target, alpha in zip(planes(person), planes(background), planes(out), alphas, strict=True):
        target[...] = composite(source, back, alpha)
    return out
