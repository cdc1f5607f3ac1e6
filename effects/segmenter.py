"""Person segmentation: MediaPipe's selfie-segmentation model, smoothed over time and feathered.

Which MediaPipe API, and why. Both run the same TFLite model through the same XNNPACK
kernels, so they cost the same within the noise of a shared machine. Measured with
``benchmarks/effects_bench.py --segmenters`` (one core, 640x480 RGB frame, landscape model,
300 calls each, interleaved): Tasks ``ImageSegmenter`` p50 1.96 ms / p95 3.72 ms, legacy
``solutions.selfie_segmentation`` p50 2.06 ms / p95 5.77 ms; on a quiet core earlier,
1.29 ms vs 1.22 ms. We use the Tasks API because:

- it takes the model as a file path, so the configured ``model_path`` (and the file that
  :func:`effects.model.check_model` located and verified at start-up) is the one that
  runs; the legacy graph loads the model itself from the package's fixed location
  (``SelfieSegmentationModelLoader``), where an override cannot reach;
- it is the maintained API (``solutions`` is gone from mediapipe 1.x, which ships no
  model: with ``model_path`` configured, this code keeps working there);
- equal speed, so nothing argues for the legacy one.

We feed the model a copy of the frame halved until it fits 320x320 (640x480 -> 320x240,
1280x720 -> 320x180): the model's input is 256x144 anyway, so nothing is lost, the call
costs the same at 1280x720 as at 320x180 (~1.2 ms; 1.35 ms for a full 640x480 input), and
the mask comes back small, where smoothing and feathering cost microseconds. The
compositor scales it up to the frame.

Thread safety: one :class:`PersonSegmenter` per publisher stream, used from that stream's
worker thread only. MediaPipe is imported and the model loaded on the first call (so in
the worker thread, never on the event loop).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

FloatMask = npt.NDArray[np.float32]
RgbImage = npt.NDArray[np.uint8]

#: The segmenter's input (and so the mask) fits in this box, aspect ratio kept.
WORK_BOX = (320, 320)


def work_size(width: int, height: int) -> tuple[int, int]:
    """The size the frame is segmented at: halved until it fits :data:`WORK_BOX`.

    Whole-number factors because OpenCV's area resize is ~10x faster for them (640x480 to
    320x240: 0.06 ms; to 256x192: 0.6 ms, half the model's own time).
    """
    factor = 1
    while width / factor > WORK_BOX[0] or height / factor > WORK_BOX[1]:
        factor *= 2
    return max(1, width // factor), max(1, height // factor)


class PersonSegmenter:
    """Person confidence (0 = background, 1 = person) for an RGB frame, at :func:`work_size`."""

    def __init__(self, model_path: Path) -> None:
        self._model_path = model_path
        self._segmenter: Any = None
        self._mp: Any = None
        self._closed = False

    def segment(self, frame: RgbImage) -> FloatMask:
        """Raw confidence mask (float32, work size) of one RGB frame (any size); no smoothing."""
        if self._closed:
            raise RuntimeError("PersonSegmenter.segment() called after close()")
        self.open()
        height, width = frame.shape[:2]
        small_size = work_size(width, height)
        small = frame if small_size == (width, height) else cv2.resize(frame, small_size, interpolation=cv2.INTER_AREA)
        small = np.ascontiguousarray(small)
        result = self._segmenter.segment(self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=small))
        # numpy_view() aliases memory owned by the result; copy before it goes away.
        mask: FloatMask = np.array(result.confidence_masks[0].numpy_view(), dtype=np.float32, copy=True)
        return mask.reshape(small_size[1], small_size[0])

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._segmenter is not None:
            self._segmenter.close()
            self._segmenter = None

    def open(self) -> None:
        """Import mediapipe and load the model (idempotent; ~0.1-1 s the first time)."""
        if self._segmenter is not None:
            return
        if self._closed:
            raise RuntimeError("PersonSegmenter.open() called after close()")
        import mediapipe as mp
        from mediapipe.tasks.python import BaseOptions, vision

        options = vision.ImageSegmenterOptions(
            base_options=BaseOptions(model_asset_path=str(self._model_path)),
            running_mode=vision.RunningMode.IMAGE,
            output_confidence_masks=True,
            output_category_mask=False,
        )
        # mediapipe 0.10.21 reads its graph through a protobuf call that protobuf 4.25
        # deprecates with a UserWarning; harmless, and an error under our test settings.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="MessageFactory class is deprecated", category=UserWarning)
            self._segmenter = vision.ImageSegmenter.create_from_options(options)
        self._mp = mp


class MaskSmoother:
    """Temporal smoothing (exponential moving average) and edge shaping of raw masks.

    Pure: numbers in, numbers out, no clock. ``update`` takes each new raw mask; ``current``
    is the mask to composite with, reused as is on frames that are not segmented.

    - EMA: ``state = w * raw + (1 - w) * state`` with ``w = smoothing``; a pixel that flips
      for one frame moves only by ``w``, so edges do not flicker.
    - Ramp: confidence <= ``low`` -> 0, >= ``high`` -> 1, linear between; the model's edge
      is wide and grey, the ramp makes it decisive before feathering softens it evenly.
    - Feather: Gaussian blur of sigma ``feather`` x mask height.
    """

    def __init__(self, smoothing: float, low: float, high: float, feather: float) -> None:
        self._smoothing = smoothing
        self._low = low
        self._high = high
        self._feather = feather
        self._state: FloatMask | None = None
        self._current: FloatMask | None = None

    @property
    def current(self) -> FloatMask | None:
        """The latest shaped mask (float32 in [0, 1]), or None before the first update."""
        return self._current

    def reset(self) -> None:
        self._state = None
        self._current = None

    def update(self, raw: FloatMask) -> FloatMask:
        if self._state is None or self._state.shape != raw.shape:
            # First frame, or the stream changed size: start over, nothing to blend with.
            self._state = raw.astype(np.float32, copy=True)
        else:
            cv2.addWeighted(raw, self._smoothing, self._state, 1.0 - self._smoothing, 0.0, dst=self._state)
        self._current = self._shape(self._state)
        return self._current

    def _shape(self, state: FloatMask) -> FloatMask:
        span = self._high - self._low
        shaped = np.clip((state - self._low) * (1.0 / span), 0.0, 1.0).astype(np.float32, copy=False)
        sigma = self._feather * state.shape[0]
        if sigma >= 0.3:
            feathered = cv2.GaussianBlur(shaped, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REPLICATE)
            return np.asarray(feathered, dtype=np.float32)
        return shaped
