"""BackgroundEffect end to end on a real photograph: decoded frame in, processed frame out."""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor

import av
import cv2
import numpy as np
import pytest

from effects.config import EffectsConfig
from effects.errors import ImageNotFound, InvalidEffectSpec, ModelMissingError
from effects.images import BackgroundImageStore
from effects.spec import EffectSpec
from effects.transform import BackgroundEffect
from sfu.transform import FrameTransform
from tests.effects.conftest import (
    BACKGROUND_BOXES,
    FACE,
    FLAG,
    JACKET,
    PERSON_BOXES,
    SKY,
    box,
    laplacian_variance,
    photo_bgr,
    video_frame,
)

SIZES = [(320, 180), (640, 480), (1280, 720)]


def run_effect(effect: BackgroundEffect, bgr: np.ndarray, frames: int = 5) -> tuple[av.VideoFrame, av.VideoFrame]:
    """Feed the same picture ``frames`` times (the mask settles); return last input and output."""
    out = frame = None
    for index in range(frames):
        frame = video_frame(bgr, index)
        out = effect.apply(frame)
    assert out is not None and frame is not None
    return frame, out


def as_bgr(frame: av.VideoFrame) -> np.ndarray:
    return frame.to_ndarray(format="bgr24")


def assert_person_kept(original: np.ndarray, processed: np.ndarray) -> None:
    for region in PERSON_BOXES:
        diff = np.abs(box(processed, region).astype(np.int16) - box(original, region).astype(np.int16))
        assert float(diff.mean()) < 1.0, region
        assert float(np.percentile(diff, 99)) <= 8, region


@pytest.fixture
def images() -> BackgroundImageStore:
    return BackgroundImageStore()


def beach_png() -> bytes:
    """Replacement picture: horizontal colour bands with a checker in them (easy to recognise)."""
    image = np.zeros((720, 1280, 3), np.uint8)
    image[:, :] = (40, 160, 230)
    image[360:, :] = (200, 170, 60)
    image[(np.indices((720, 1280)).sum(axis=0) // 40) % 2 == 0] += 15
    ok, data = cv2.imencode(".png", image)
    assert ok
    return data.tobytes()


@pytest.mark.parametrize(("width", "height"), SIZES)
@pytest.mark.parametrize("strength", ["light", "strong"])
def test_blur_softens_the_background_and_keeps_the_person(model_path, width, height, strength):
    effect = BackgroundEffect(EffectSpec.parse("blur", strength), None, model_path=model_path)
    try:
        frame, out = run_effect(effect, photo_bgr(width, height))
    finally:
        effect.close()
    assert (out.width, out.height, out.format.name) == (width, height, frame.format.name)
    assert (out.pts, out.time_base) == (frame.pts, frame.time_base)
    original, processed = as_bgr(frame), as_bgr(out)
    assert laplacian_variance(box(processed, FLAG)) < 0.05 * laplacian_variance(box(original, FLAG))
    assert_person_kept(original, processed)


def test_strong_blur_is_stronger_than_light(model_path):
    spreads = {}
    for strength in ("light", "strong"):
        effect = BackgroundEffect(EffectSpec.parse("blur", strength), None, model_path=model_path)
        try:
            _, out = run_effect(effect, photo_bgr(640, 480), frames=2)
        finally:
            effect.close()
        spreads[strength] = float(cv2.cvtColor(box(as_bgr(out), FLAG), cv2.COLOR_BGR2GRAY).std())
    assert spreads["strong"] < 0.5 * spreads["light"]


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_replacement_shows_the_image_behind_the_person(model_path, images, width, height):
    info = images.add("org-a", "Beach", beach_png())
    effect = BackgroundEffect(EffectSpec.parse("image", org="org-a", image_id=info.image_id), images, model_path=model_path)
    try:
        frame, out = run_effect(effect, photo_bgr(width, height))
    finally:
        effect.close()
    original, processed = as_bgr(frame), as_bgr(out)
    expected = images.get("org-a", info.image_id).at_size(width, height)
    for region in BACKGROUND_BOXES:
        diff = np.abs(box(processed, region).astype(np.int16) - box(expected, region).astype(np.int16))
        # yuv420p halves the chroma resolution: edges of the checker differ a little.
        assert float(diff.mean()) < 4.0, region
        assert float(np.median(diff)) <= 3, region
    assert_person_kept(original, processed)
    assert not np.allclose(box(original, SKY), box(processed, SKY), atol=20)


def test_mask_is_stable_across_identical_frames(model_path):
    effect = BackgroundEffect(EffectSpec.parse("blur", "strong"), None, model_path=model_path)
    bgr = photo_bgr(640, 480)
    outputs = []
    try:
        for index in range(8):
            outputs.append(as_bgr(effect.apply(video_frame(bgr, index))).astype(np.int16))
    finally:
        effect.close()
    changes = [float(np.abs(b - a).max()) for a, b in itertools.pairwise(outputs)]
    assert changes[-1] <= 2  # settled: the same picture gives the same output
    assert all(later <= earlier + 1 for earlier, later in itertools.pairwise(changes))


def test_none_passes_frames_through_untouched(tmp_path):
    # Needs no model at all: the configured one does not even exist.
    effect = BackgroundEffect(EffectSpec.parse("none"), None, config=EffectsConfig(model_path=tmp_path / "absent.tflite"))
    frame = video_frame(photo_bgr(320, 180))
    assert effect.apply(frame) is frame
    effect.close()
    stats = effect.stats()
    assert (stats.frames, stats.segmentations) == (1, 0)


def test_implements_the_pipeline_protocol(model_path):
    effect = BackgroundEffect(EffectSpec.parse("blur", "light"), None, model_path=model_path)
    assert isinstance(effect, FrameTransform)
    assert effect.name == "blur:light"
    effect.close()


def test_image_effects_check_the_image_when_created(model_path, images):
    with pytest.raises(ImageNotFound, match="img_missing"):
        BackgroundEffect(EffectSpec.parse("image", org="org-a", image_id="img_missing"), images, model_path=model_path)
    with pytest.raises(InvalidEffectSpec, match="image store"):
        BackgroundEffect(EffectSpec.parse("image", org="org-a", image_id="img_1"), None, model_path=model_path)


def test_a_deleted_image_stays_in_use_until_the_effect_changes(model_path, images):
    info = images.add("org-a", "Beach", beach_png())
    effect = BackgroundEffect(EffectSpec.parse("image", org="org-a", image_id=info.image_id), images, model_path=model_path)
    images.delete("org-a", info.image_id)
    try:
        _, out = run_effect(effect, photo_bgr(320, 180), frames=1)
    finally:
        effect.close()
    assert out.width == 320


def test_close_is_idempotent_and_final(model_path):
    effect = BackgroundEffect(EffectSpec.parse("blur", "light"), None, model_path=model_path)
    run_effect(effect, photo_bgr(320, 180), frames=1)
    effect.close()
    effect.close()
    with pytest.raises(RuntimeError, match="after close"):
        effect.apply(video_frame(photo_bgr(320, 180)))


def test_runs_in_a_worker_thread_and_counts_frames(model_path):
    """Created on one thread, used on another (the pipeline's worker), stats read from the first."""
    effect = BackgroundEffect(EffectSpec.parse("blur", "light"), None, model_path=model_path)
    bgr = photo_bgr(640, 480)
    with ThreadPoolExecutor(max_workers=1) as worker:
        for index in range(10):
            worker.submit(effect.apply, video_frame(bgr, index)).result()
        worker.submit(effect.close).result()
    stats = effect.stats()
    assert stats.frames == 10
    assert stats.segmentations + stats.skipped_segmentations == 10
    assert stats.last_segmentation_ms > 0 and stats.last_composite_ms > 0
    assert stats.last_apply_ms >= stats.last_composite_ms
    assert effect.dump()["closed"] is True


class SlowClock:
    """A clock that advances ``step`` seconds at every reading: every stage looks slow."""

    def __init__(self, step: float) -> None:
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def test_sheds_segmentation_when_frames_take_longer_than_the_interval(model_path):
    config = EffectsConfig(max_segment_every=3)
    effect = BackgroundEffect(EffectSpec.parse("blur", "light"), None, model_path=model_path, config=config, clock=SlowClock(0.015))
    bgr = photo_bgr(320, 180)
    try:
        for index in range(30):
            effect.apply(video_frame(bgr, index))
    finally:
        effect.close()
    stats = effect.stats()
    assert stats.segment_every == 3
    assert stats.frames == 30
    assert stats.skipped_segmentations >= 15
    assert stats.segmentations + stats.skipped_segmentations == 30


def test_keeps_segmenting_every_frame_when_fast(model_path):
    effect = BackgroundEffect(EffectSpec.parse("blur", "light"), None, model_path=model_path, clock=SlowClock(0.0001))
    try:
        for index in range(20):
            effect.apply(video_frame(photo_bgr(320, 180), index))
    finally:
        effect.close()
    assert (effect.stats().segmentations, effect.stats().skipped_segmentations) == (20, 0)


def test_a_stream_that_changes_size_is_segmented_again(model_path):
    effect = BackgroundEffect(
        EffectSpec.parse("blur", "light"), None, model_path=model_path, config=EffectsConfig(), clock=SlowClock(0.015)
    )
    try:
        run_effect(effect, photo_bgr(640, 480), frames=10)  # shedding: every 4th frame
        before = effect.stats().segmentations
        _, out = run_effect(effect, photo_bgr(1280, 720), frames=1)  # 4:3 -> 16:9
        after_change = effect.stats().segmentations
        run_effect(effect, photo_bgr(1280, 720), frames=3)  # same size again: shedding resumes
    finally:
        effect.close()
    assert after_change == before + 1
    assert effect.stats().segmentations < after_change + 3
    assert (out.width, out.height) == (1280, 720)


def test_person_pixels_are_unchanged_by_every_effect(model_path, images):
    info = images.add("org-a", "Beach", beach_png())
    specs = [EffectSpec.parse("blur", "light"), EffectSpec.parse("blur", "strong"), EffectSpec.parse("image", org="org-a", image_id=info.image_id)]
    for spec in specs:
        effect = BackgroundEffect(spec, images, model_path=model_path)
        try:
            frame, out = run_effect(effect, photo_bgr(640, 480), frames=3)
        finally:
            effect.close()
        original, processed = as_bgr(frame), as_bgr(out)
        for region in (FACE, JACKET):
            diff = np.abs(box(processed, region).astype(np.int16) - box(original, region).astype(np.int16))
            assert float(diff.mean()) < 2.0, (spec.name, region)


def test_person_pixels_come_out_bit_exact_in_the_decoders_planes(model_path):
    """yuv420p in, yuv420p out: where the mask is solid the person's Y, U, V are untouched."""
    effect = BackgroundEffect(EffectSpec.parse("blur", "strong"), None, model_path=model_path)
    try:
        frame, out = run_effect(effect, photo_bgr(640, 480), frames=3)
    finally:
        effect.close()
    assert out.format.name == "yuv420p"
    before, after = frame.to_ndarray(), out.to_ndarray()
    luma_before, luma_after = before[:480], after[:480]
    face = box(luma_after, FACE) == box(luma_before, FACE)
    assert float(face.mean()) > 0.99
    assert not np.array_equal(box(luma_after, FLAG), box(luma_before, FLAG))


@pytest.mark.parametrize("pixel_format", ["bgr24", "rgb24", "yuv420p"])
@pytest.mark.parametrize(("width", "height"), [(321, 181), (640, 480)])
def test_other_pixel_formats_and_odd_sizes_come_back_in_kind(model_path, pixel_format, width, height):
    effect = BackgroundEffect(EffectSpec.parse("blur", "light"), None, model_path=model_path)
    bgr = photo_bgr(width, height)
    try:
        for index in range(3):
            frame = av.VideoFrame.from_ndarray(bgr, format="bgr24").reformat(format=pixel_format)
            frame.pts, frame.time_base = index * 3000, video_frame(bgr).time_base
            out = effect.apply(frame)
    finally:
        effect.close()
    assert (out.width, out.height, out.format.name, out.pts) == (width, height, pixel_format, frame.pts)
    processed = as_bgr(out)
    assert laplacian_variance(box(processed, FLAG)) < 0.05 * laplacian_variance(box(bgr, FLAG))
    for region in PERSON_BOXES:
        diff = np.abs(box(processed, region).astype(np.int16) - box(as_bgr(frame), region).astype(np.int16))
        assert float(diff.mean()) < 3.0, region


def test_locates_the_model_itself_when_not_given():
    effect = BackgroundEffect(EffectSpec.parse("blur", "light"), None)
    try:
        run_effect(effect, photo_bgr(320, 180), frames=1)
    finally:
        effect.close()
    assert effect.stats().segmentations == 1


def test_a_missing_model_is_reported_when_the_effect_is_created(tmp_path):
    with pytest.raises(ModelMissingError, match=r"absent\.tflite"):
        BackgroundEffect(EffectSpec.parse("blur", "light"), None, config=EffectsConfig(model_path=tmp_path / "absent.tflite"))


def test_streams_run_side_by_side_in_their_own_threads(model_path, images):
    """One effect (and segmenter) per stream, each in its own worker thread, at the same time."""
    info = images.add("org-a", "Beach", beach_png())
    specs = [
        EffectSpec.parse("blur", "light"),
        EffectSpec.parse("blur", "strong"),
        EffectSpec.parse("image", org="org-a", image_id=info.image_id),
    ]
    effects = [BackgroundEffect(spec, images, model_path=model_path) for spec in specs]
    sizes = [(320, 180), (640, 480), (1280, 720)]

    def stream(effect: BackgroundEffect, size: tuple[int, int]) -> av.VideoFrame:
        bgr = photo_bgr(*size)
        try:
            for index in range(8):
                out = effect.apply(video_frame(bgr, index))
        finally:
            effect.close()
        return out

    with ThreadPoolExecutor(max_workers=3) as workers:
        outputs = list(workers.map(stream, effects, sizes))
    for effect, out, (width, height) in zip(effects, outputs, sizes, strict=True):
        assert (out.width, out.height) == (width, height)
        assert effect.stats().frames == 8
        processed, original = as_bgr(out), photo_bgr(width, height)
        if effect.spec.image_id is None:
            assert laplacian_variance(box(processed, FLAG)) < 0.05 * laplacian_variance(box(original, FLAG))
        else:
            expected = images.get("org-a", info.image_id).at_size(width, height)
            error = np.abs(box(processed, SKY).astype(np.int16) - box(expected, SKY).astype(np.int16))
            assert float(error.mean()) < 4.0
