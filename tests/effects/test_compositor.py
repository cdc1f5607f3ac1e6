"""Compositing arithmetic and blur on real pixels."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from effects.compositor import alpha_for_frame, blurred, composite, cover
from effects.errors import FrameShapeMismatch
from effects.spec import BlurStrength
from tests.effects.conftest import FLAG, box, laplacian_variance, photo_bgr


def test_composite_takes_person_where_alpha_is_full_and_background_where_empty():
    person = np.full((90, 160, 3), (10, 200, 30), np.uint8)
    background = np.full((90, 160, 3), (250, 0, 100), np.uint8)
    alpha = np.zeros((90, 160), np.uint8)
    alpha[:, :80] = 255
    alpha[:, 120:] = 128
    out = composite(person, background, alpha)
    assert np.array_equal(out[:, :80], person[:, :80])
    assert np.array_equal(out[:, 80:120], background[:, 80:120])
    expected = (person[0, 0].astype(float) * 128 + background[0, 0].astype(float) * 127) / 255
    assert np.abs(out[0, 150].astype(float) - expected).max() <= 1.0


def test_composite_refuses_mismatched_sizes():
    frame = np.zeros((90, 160, 3), np.uint8)
    with pytest.raises(FrameShapeMismatch, match="background"):
        composite(frame, np.zeros((91, 160, 3), np.uint8), np.zeros((90, 160), np.uint8))
    with pytest.raises(FrameShapeMismatch, match="alpha"):
        composite(frame, frame, np.zeros((90, 161), np.uint8))


def test_alpha_for_frame_scales_the_mask_to_the_frame():
    mask = np.zeros((144, 256), np.float32)
    mask[:, 128:] = 1.0
    alpha = alpha_for_frame(mask, 1280, 720)
    assert alpha.shape == (720, 1280)
    assert alpha.dtype == np.uint8
    assert alpha[360, 10] == 0 and alpha[360, 1270] == 255


@pytest.mark.parametrize(("width", "height"), [(320, 180), (640, 480), (1280, 720)])
def test_blur_removes_fine_detail_and_strong_also_the_coarse(width, height):
    frame = photo_bgr(width, height)
    light, strong = blurred(frame, BlurStrength.LIGHT), blurred(frame, BlurStrength.STRONG)
    assert light.shape == strong.shape == frame.shape
    sharp_detail = laplacian_variance(box(frame, FLAG))
    assert laplacian_variance(box(light, FLAG)) < 0.05 * sharp_detail
    assert laplacian_variance(box(strong, FLAG)) < 0.05 * sharp_detail
    # Coarse contrast (the flag's stripes): light keeps some, strong washes it out.
    assert grey_std(box(strong, FLAG)) < 0.5 * grey_std(box(light, FLAG)) < 0.5 * grey_std(box(frame, FLAG))


def test_blur_is_the_same_fraction_of_the_picture_at_every_size():
    spreads = []
    for width, height in [(320, 180), (640, 360), (1280, 720)]:
        frame = photo_bgr(width, height)
        spreads.append(grey_std(box(blurred(frame, BlurStrength.LIGHT), FLAG)))
    assert max(spreads) - min(spreads) < 0.2 * max(spreads)


def grey_std(image: np.ndarray) -> float:
    return float(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).std())


def test_cover_fills_the_frame_and_crops_the_centre():
    image = np.zeros((400, 400, 3), np.uint8)
    image[:80, :] = 255  # a white band at the top: cropped away in 16:9
    image[150:250, 150:250] = (0, 0, 255)  # a red square in the middle, kept
    out = cover(image, 320, 180)
    assert out.shape == (180, 320, 3)
    assert out.flags["C_CONTIGUOUS"]
    assert np.array_equal(out[90, 160], [0, 0, 255])
    assert out[5, 5].max() == 0  # the top was cropped, not squeezed in
    assert out[:, :5].max() == 0  # the width is kept whole: nothing stretched


@pytest.mark.parametrize("strength", list(BlurStrength))
def test_background_only_blur_leaves_no_halo_around_the_person(strength):
    """A dark person on a bright wall: without the mask the blur darkens the wall around them."""
    frame = np.full((480, 640, 3), 230, np.uint8)
    frame[120:, 220:420] = 20  # the person
    person = np.zeros((480, 640), np.float32)
    person[120:, 220:420] = 1.0
    ring = (slice(200, 480), slice(425, 445))  # wall just right of the person
    plain = blurred(frame, strength)
    clean = blurred(frame, strength, person)
    assert float(plain[ring].mean()) < 215  # the halo this avoids
    assert float(clean[ring].mean()) > max(215.0, float(plain[ring].mean()) + 15)
    far = (slice(0, 40), slice(0, 40))
    assert abs(float(clean[far].mean()) - 230) <= 2  # the wall far away is the wall


def test_background_only_blur_works_per_plane_with_a_small_mask():
    plane = np.full((90, 160), 200, np.uint8)
    plane[30:, 60:100] = 10
    person = np.zeros((45, 80), np.float32)  # mask at another size: scaled to the blur's
    person[15:, 30:50] = 1.0
    clean = blurred(plane, BlurStrength.STRONG, person)
    assert clean.shape == plane.shape
    assert float(clean[60:, 102:106].mean()) > 185
