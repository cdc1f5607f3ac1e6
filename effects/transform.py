"""``BackgroundEffect``: the ``sfu.transform.FrameTransform`` that blurs or replaces a background.

One instance per publisher stream, created on the event loop (cheap: nothing is loaded)
and then used only from that stream's worker thread: the segmenter (MediaPipe) is created
on the first ``apply``. ``stats()`` may be read from any thread.

Per frame: decoded frame -> BGR -> (segment -> smooth) -> alpha at frame size -> blur or
image composite -> frame in the input's pixel format, same size, same pts/time_base. The
output keeps the input's pixel format so that the pipeline scales it once per rendition
without another conversion.

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

from effects.compositor import Alpha, BgrImage, alpha_for_frame, blur_background, replace_background
from effects.config import EffectsConfig
from effects.errors import InvalidEffectSpec
from effects.images import BackgroundImageStore, StoredImage
from effects.segmenter import MaskSmoother, PersonSegmenter
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
        model_path: Path,
        config: EffectsConfig | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        """``model_path`` comes from :func:`effects.model.check_model` at start-up.

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
        self._segmenter = PersonSegmenter(model_path)
        self._smoother = MaskSmoother(
            self._config.mask_smoothing, self._config.mask_low, self._config.mask_high, self._config.feather
        )
        self._scheduler = SegmentationScheduler(self._config.max_segment_every, 1.0 / self._config.default_fps)
        self._stats_lock = threading.Lock()
        self._frames = 0
        self._segmentations = 0
        self._skipped = 0
        self._last_segmentation = 0.0
        self._last_composite = 0.0
        self._last_apply = 0.0
        self._closed = False

    def apply(self, frame: av.VideoFrame) -> av.VideoFrame:
        if self._closed:
            raise RuntimeError(f"BackgroundEffect {self.name}: apply() after close()")
        if self.spec.kind is EffectKind.NONE:
            with self._stats_lock:
                self._frames += 1
            return frame
        # Load the model outside the timed part: it is not a per-frame cost.
        self._segmenter.open()
        started = self._clock()
        if frame.pts is not None and frame.time_base is not None:
            self._scheduler.observe_timestamp(float(frame.pts * frame.time_base))
        bgr = np.asarray(frame.to_ndarray(format="bgr24"), dtype=np.uint8)
        height, width = bgr.shape[:2]

        segmentation: float | None = None
        mask = self._smoother.current
        if mask is not None and mask.shape[1] * height != mask.shape[0] * width:
            self._scheduler.invalidate()  # the stream changed its aspect ratio
        if mask is None or self._scheduler.should_segment():
            segment_started = self._clock()
            mask = self._smoother.update(self._segmenter.segment(bgr))
            segmentation = self._clock() - segment_started

        composite_started = self._clock()
        out = self._composite(bgr, alpha_for_frame(mask, width, height))
        composite = self._clock() - composite_started

        processed = av.VideoFrame.from_ndarray(out, format="bgr24")
        if frame.format.name != "bgr24":
            processed = processed.reformat(format=frame.format.name)
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

    def _composite(self, bgr: BgrImage, alpha: Alpha) -> BgrImage:
        if self._image is not None:
            height, width = bgr.shape[:2]
            return replace_background(bgr, alpha, self._image.at_size(width, height))
        return blur_background(bgr, alpha, self.spec.strength)
