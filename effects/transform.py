"""``BackgroundEffect``: the ``sfu.transform.FrameTransform`` that blurs or replaces a background.

One instance per publisher stream, created on the event loop (cheap: nothing is loaded)
and then used only from that stream's worker thread: the segmenter (MediaPipe) is created
on the first ``apply``. ``stats()`` may be read from any thread.

Per frame: decoded yuv420p planes -> (RGB at work size -> segment -> smooth) -> alpha at
plane sizes -> blur or image composite per plane -> frame in the input's pixel format, same
size, same pts/time_base. We work on the decoder's planes rather than converting to BGR
and back (see :mod:`effects.i420`: the round trip costs ~0.7 ms and shifts the person's
pixels); frames of odd width or height take a BGR path. The output keeps the input's pixel
format, so the pipeline scales it once per rendition without another conversion.

Load shedding (see :mod:`effects.shedding`): when a frame costs more than the frame
interval, only every Nth frame is segmented and the others reuse the smoothed mask.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import av
import numpy as np

from effects import i420
from effects.compositor import alpha_for_frame, blur_background, replace_background
from effects.config import EffectsConfig
from effects.errors import InvalidEffectSpec
from effects.images import BackgroundImageStore, StoredImage
from effects.model import locate_model
from effects.segmenter import FloatMask, MaskSmoother, PersonSegmenter, RgbImage
from effects.shedding import SegmentationScheduler
from effects.spec import EffectKind, EffectSpec


@dataclass(frozen=True)
class EffectStats:
    name: str
    frames: int
    segmentations: int
    skipped_segmentations: int
    #: Current load-shedding step: one frame in ``segment_every`` is segmented.
    segment_every: int
    #: Durations of the last frame, milliseconds (segmentation: of the last segmented frame).
    last_segmentation_ms: float
    last_composite_ms: float
    last_apply_ms: float

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


class BackgroundEffect:
    """Blur or image replacement behind the person; ``kind`` "none" passes frames through."""

    def __init__(
        self,
        spec: EffectSpec,
        images: BackgroundImageStore | None,
        *,
        model_path: Path | None = None,
        config: EffectsConfig | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        """``model_path`` comes from :func:`effects.model.check_model` at start-up (located
        from ``config`` here when not given: a file check, no model loading).

        Raises :class:`InvalidEffectSpec` if an image effect has no store, and
        :class:`effects.errors.ImageNotFound` if the image is not in the organisation's set:
        both at once, on the caller's side, rather than later in the worker thread.
        """
        self.spec = spec
        self.name = spec.name
        self._config = config or EffectsConfig()
        self._clock = clock
        self._image: StoredImage | None = None
        if spec.kind is EffectKind.IMAGE:
            if images is None:
                raise InvalidEffectSpec("kind: 'image' needs the organisation's image store")
            if spec.org is None or spec.image_id is None:  # EffectSpec already refuses this
                raise InvalidEffectSpec("org, image_id: required when kind is 'image'")
            self._image = images.get(spec.org, spec.image_id)
        # "none" never segments: it needs no model (and must work without one).
        self._segmenter: PersonSegmenter | None = None
        if spec.kind is not EffectKind.NONE:
            self._segmenter = PersonSegmenter(model_path or locate_model(self._config))
        self._smoother = MaskSmoother(
            self._config.mask_smoothing, self._config.mask_low, self._config.mask_high, self._config.feather
        )
        self._scheduler = SegmentationScheduler(
            self._config.max_segment_every, 1.0 / self._config.default_fps, self._config.min_segment_every
        )
        self._stats_lock = threading.Lock()
        self._frames = 0
        self._segmentations = 0
        self._skipped = 0
        self._last_segmentation = 0.0
        self._last_composite = 0.0
        self._last_apply = 0.0
        self._mask_frame_size: tuple[int, int] | None = None
        self._closed = False

    def apply(self, frame: av.VideoFrame) -> av.VideoFrame:
        if self._closed:
            raise RuntimeError(f"BackgroundEffect {self.name}: apply() after close()")
        if self._segmenter is None:  # kind "none"
            with self._stats_lock:
                self._frames += 1
            return frame
        # Load the model outside the timed part: it is not a per-frame cost.
        self._segmenter.open()
        started = self._clock()
        if frame.pts is not None and frame.time_base is not None:
            self._scheduler.observe_timestamp(float(frame.pts * frame.time_base))
        width, height = frame.width, frame.height
        if i420.supports(width, height):
            timings, processed = self._process_i420(frame, width, height)
        else:
            timings, processed = self._process_bgr(frame, width, height)
        segmentation, composite = timings
        processed.pts = frame.pts
        processed.time_base = frame.time_base
        total = self._clock() - started
        self._scheduler.record(segmentation, total - (segmentation or 0.0))
        with self._stats_lock:
            self._frames += 1
            if segmentation is None:
                self._skipped += 1
            else:
                self._segmentations += 1
                self._last_segmentation = segmentation
            self._last_composite = composite
            self._last_apply = total
        return processed

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._segmenter is not None:
            self._segmenter.close()

    def stats(self) -> EffectStats:
        with self._stats_lock:
            return EffectStats(
                name=self.name,
                frames=self._frames,
                segmentations=self._segmentations,
                skipped_segmentations=self._skipped,
                segment_every=self._scheduler.every,
                last_segmentation_ms=self._last_segmentation * 1000.0,
                last_composite_ms=self._last_composite * 1000.0,
                last_apply_ms=self._last_apply * 1000.0,
            )

    def dump(self) -> dict[str, object]:
        return {"spec": asdict(self.spec), "closed": self._closed, **self.stats().to_dict()}

    def _process_i420(self, frame: av.VideoFrame, width: int, height: int) -> tuple[_Timings, av.VideoFrame]:
        """The usual path: the decoder's yuv420p planes, untouched where the person is."""
        source = frame if frame.format.name == "yuv420p" else frame.reformat(format="yuv420p")
        data = np.ascontiguousarray(source.to_ndarray(), dtype=np.uint8)
        segmentation, mask = self._mask(lambda: i420.to_rgb(data), width, height)
        composite_started = self._clock()
        if self._image is not None:
            background = self._image.at_size_i420(width, height)
        else:
            background = i420.blurred_i420(data, self.spec.strength, mask)
        out = i420.composite_i420(data, background, mask)
        composite = self._clock() - composite_started
        processed = av.VideoFrame.from_ndarray(out, format="yuv420p")
        if frame.format.name != "yuv420p":
            processed = processed.reformat(format=frame.format.name)
        return (segmentation, composite), processed

    def _process_bgr(self, frame: av.VideoFrame, width: int, height: int) -> tuple[_Timings, av.VideoFrame]:
        """Odd frame sizes (I420 needs even ones): through BGR, as precise as libswscale allows."""
        bgr = np.asarray(frame.to_ndarray(format="bgr24"), dtype=np.uint8)
        segmentation, mask = self._mask(lambda: np.ascontiguousarray(bgr[:, :, ::-1]), width, height)
        composite_started = self._clock()
        alpha = alpha_for_frame(mask, width, height)
        if self._image is not None:
            out = replace_background(bgr, alpha, self._image.at_size(width, height))
        else:
            out = blur_background(bgr, alpha, self.spec.strength, mask)
        composite = self._clock() - composite_started
        processed = av.VideoFrame.from_ndarray(out, format="bgr24")
        if frame.format.name != "bgr24":
            processed = processed.reformat(format=frame.format.name)
        return (segmentation, composite), processed

    def _mask(self, rgb: Callable[[], RgbImage], width: int, height: int) -> tuple[float | None, FloatMask]:
        """The smoothed mask for this frame: segmented now, or reused (load shedding)."""
        mask = self._smoother.current
        if self._mask_frame_size != (width, height):
            self._scheduler.invalidate()  # the stream changed size: the old mask may not fit
            self._mask_frame_size = (width, height)
        if mask is not None and not self._scheduler.should_segment():
            return None, mask
        if self._segmenter is None:
            raise RuntimeError("kind 'none' has no segmenter")  # apply() returns before this
        started = self._clock()
        mask = self._smoother.update(self._segmenter.segment(rgb()))
        return self._clock() - started, mask


#: (segmentation seconds or None if the mask was reused, composite seconds)
_Timings = tuple[float | None, float]
