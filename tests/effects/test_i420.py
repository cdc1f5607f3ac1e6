"""Plane views and per-plane compositing of I420 arrays."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from effects.errors import FrameShapeMismatch
from effects.i420 import blurred_i420, composite_i420, from_bgr, planes, to_rgb
from effects.spec import BlurStrength
from tests.effects.conftest import FLAG, box, laplacian_variance, photo_bgr


@pytest.mark.parametrize(("width", "height"), [(160, 90), (320, 180), (640, 480)])
def test_planes_are_views_of_the_right_bytes(width, height):
    data = from_bgr(photo_bgr(width, height))
    y, u, v = planes(data)
    assert y.shape == (height, width) and u.shape == v.shape == (height // 2, width // 2)
    u[...] = 1
    v[...] = 2
    flat = data.reshape(-1)
    assert (flat[width * height : width * height + u.size] == 1).all()
    assert (flat[width * height + u.size :] == 2).all()


def test_planes_refuse_arrays_that_are_not_i420():
    with pytest.raises(FrameShapeMismatch, match="I420"):
        planes(np.zeros((100, 64), np.uint8))
    with pytest.raises(FrameShapeMismatch, match="I420"):
        planes(np.zeros((270, 161), np.uint8))


def test_composite_follows_the_mask_in_every_plane():
    person = from_bgr(np.full((180, 320, 3), (20, 200, 40), np.uint8))
    background = from_bgr(np.full((180, 320, 3), (240, 30, 200), np.uint8))
    mask = np.zeros((144, 256), np.float32)
    mask[:, :128] = 1.0
    out = composite_i420(person, background, mask)
    rgb = cv2.cvtColor(out, cv2.COLOR_YUV2BGR_I420)
    assert np.abs(rgb[90, 20].astype(int) - (20, 200, 40)).max() <= 3
    assert np.abs(rgb[90, 300].astype(int) - (240, 30, 200)).max() <= 3
    y, u, _v = planes(out)
    assert np.array_equal(y[:, :100], planes(person)[0][:, :100])
    assert np.array_equal(u[:, :50], planes(person)[1][:, :50])


def test_blur_works_per_plane():
    data = from_bgr(photo_bgr(640, 480))
    blurred = blurred_i420(data, BlurStrength.LIGHT)
    assert blurred.shape == data.shape
    before = cv2.cvtColor(data, cv2.COLOR_YUV2BGR_I420)
    after = cv2.cvtColor(blurred, cv2.COLOR_YUV2BGR_I420)
    assert laplacian_variance(box(after, FLAG)) < 0.05 * laplacian_variance(box(before, FLAG))
    # Colours survive: the blurred flag is still blue-and-red on average.
    assert np.abs(box(after, FLAG).mean(axis=(0, 1)) - box(before, FLAG).mean(axis=(0, 1))).max() < 6


def test_to_rgb_matches_the_picture():
    bgr = photo_bgr(320, 180)
    rgb = to_rgb(from_bgr(bgr))
    assert rgb.shape == (180, 320, 3)
    assert float(np.abs(rgb[:, :, ::-1].astype(int) - bgr).mean()) < 4
