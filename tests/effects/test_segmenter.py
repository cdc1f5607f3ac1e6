"""PersonSegmenter on a real photograph with the real model, and MaskSmoother's arithmetic."""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest

from effects.segmenter import MaskSmoother, PersonSegmenter, work_size
from tests.effects.conftest import BACKGROUND_BOXES, PERSON_BOXES, box, photo_rgb


@pytest.mark.parametrize(("width", "height"), [(320, 180), (640, 480), (1280, 720)])
def test_segments_the_person_from_the_background(model_path, width, height):
    segmenter = PersonSegmenter(model_path)
    try:
        mask = segmenter.segment(photo_rgb(width, height))
    finally:
        segmenter.close()
    assert mask.dtype == np.float32
    assert mask.shape == (work_size(width, height)[1], work_size(width, height)[0])
    assert 0.0 <= float(mask.min()) and float(mask.max()) <= 1.0
    for region in PERSON_BOXES:
        assert float(box(mask, region).mean()) > 0.9, region
    for region in BACKGROUND_BOXES:
        assert float(box(mask, region).mean()) < 0.1, region


def test_work_size_halves_until_the_frame_fits_and_keeps_the_aspect_ratio():
    assert work_size(1280, 720) == (320, 180)
    assert work_size(640, 480) == (320, 240)
    assert work_size(320, 180) == (320, 180)
    assert work_size(160, 90) == (160, 90)  # never upscaled
    assert work_size(480, 640) == (240, 320)
    assert work_size(1920, 1080) == (240, 135)


def test_segmenter_is_deterministic_on_identical_frames(model_path):
    segmenter = PersonSegmenter(model_path)
    frame = photo_rgb(640, 480)
    try:
        first = segmenter.segment(frame)
        second = segmenter.segment(frame.copy())
    finally:
        segmenter.close()
    assert np.array_equal(first, second)


def test_segment_after_close_is_refused(model_path):
    segmenter = PersonSegmenter(model_path)
    segmenter.close()
    segmenter.close()  # idempotent
    with pytest.raises(RuntimeError, match="after close"):
        segmenter.segment(photo_rgb(320, 180))


def smoother(smoothing: float = 0.5) -> MaskSmoother:
    # No ramp (0..1 linear) and no feathering: the EMA alone is visible in the numbers.
    return MaskSmoother(smoothing=smoothing, low=0.0, high=1.0, feather=0.0)


def test_ema_moves_a_flipped_pixel_by_the_smoothing_weight_only():
    ema = smoother(0.4)
    person = np.ones((144, 256), np.float32)
    ema.update(person)
    flipped = person.copy()
    flipped[50:60, 50:60] = 0.0  # one frame of a wrong mask
    after = ema.update(flipped)
    assert after[55, 55] == pytest.approx(0.6)
    assert after[0, 0] == pytest.approx(1.0)
    after = ema.update(person)  # back to normal: recovers, no flash
    assert after[55, 55] == pytest.approx(0.76)


def test_identical_raw_masks_converge_to_a_still_mask():
    ema = smoother(0.5)
    rng = np.random.default_rng(1)
    ema.update(rng.random((144, 256), dtype=np.float32))
    target = rng.random((144, 256), dtype=np.float32)
    changes = []
    first = ema.current
    assert first is not None
    previous = first.copy()
    for _ in range(20):
        current = ema.update(target).copy()
        changes.append(float(np.abs(current - previous).max()))
        previous = current
    assert all(later <= earlier for earlier, later in itertools.pairwise(changes))
    assert changes[-1] < 1e-5
    assert np.allclose(previous, target, atol=1e-5)


def test_smoothing_reduces_frame_to_frame_change_of_noisy_masks(model_path):
    """Real masks of a noisy camera: the smoothed mask changes less than the raw one."""
    segmenter = PersonSegmenter(model_path)
    ema = MaskSmoother(smoothing=0.5, low=0.3, high=0.7, feather=0.006)
    rng = np.random.default_rng(7)
    clean = photo_rgb(640, 480).astype(np.int16)
    raw_changes, smooth_changes = [], []
    previous_raw: np.ndarray | None = None
    previous_smooth: np.ndarray | None = None
    try:
        for _ in range(12):
            noise = rng.normal(0, 12, clean.shape).astype(np.int16)
            frame = np.clip(clean + noise, 0, 255).astype(np.uint8)
            raw = segmenter.segment(frame)
            smooth = ema.update(raw).copy()
            if previous_raw is not None and previous_smooth is not None:
                raw_changes.append(float(np.abs(raw - previous_raw).mean()))
                smooth_changes.append(float(np.abs(smooth - previous_smooth).mean()))
            previous_raw, previous_smooth = raw, smooth
    finally:
        segmenter.close()
    assert sum(raw_changes) > 0  # the noise does move the raw mask
    assert sum(smooth_changes[2:]) < 0.75 * sum(raw_changes[2:])


def test_ramp_and_feather_shape_the_edge():
    ema = MaskSmoother(smoothing=1.0, low=0.3, high=0.7, feather=0.02)
    raw = np.zeros((144, 256), np.float32)
    raw[:, 128:] = 1.0
    raw[:, :64] = 0.25  # under `low`: background
    raw[:, 64:128] = 0.75  # over `high`: person
    shaped = ema.update(raw)
    assert shaped[70, 10] == pytest.approx(0.0, abs=1e-6)
    assert shaped[70, 100] == pytest.approx(1.0, abs=1e-6)
    edge = shaped[70, 58:70]  # feathered: a ramp, not a step
    assert int(np.count_nonzero((edge > 0.1) & (edge < 0.9))) >= 4
    assert np.all(np.diff(edge) >= -1e-6)


def test_size_change_restarts_the_average():
    ema = smoother(0.5)
    ema.update(np.zeros((144, 256), np.float32))
    resized = ema.update(np.ones((192, 256), np.float32))
    assert resized.shape == (192, 256)
    assert float(resized.min()) == pytest.approx(1.0)
    ema.reset()
    assert ema.current is None


def test_feathered_mask_upscales_without_blocks(model_path):
    segmenter = PersonSegmenter(model_path)
    try:
        mask = MaskSmoother(0.5, 0.3, 0.7, 0.006).update(segmenter.segment(photo_rgb(1280, 720)))
    finally:
        segmenter.close()
    big = cv2.resize(mask, (1280, 720), interpolation=cv2.INTER_LINEAR)
    # Neighbouring pixels of the upscaled mask never jump from background to person.
    assert float(np.abs(np.diff(big, axis=1)).max()) < 0.5
