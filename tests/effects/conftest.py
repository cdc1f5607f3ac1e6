"""Shared fixtures: a real photograph of a person and the real MediaPipe model.

The photograph is Grace Hopper's official portrait, shipped by matplotlib (a registry
package already in our environment) as ``mpl-data/sample_data/grace_hopper.jpg``
(512x600): a person in front of a flag (stars: lots of fine detail to blur) and plain sky.

Regions are hand-labelled as fractions of the frame, so they hold at every test size.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import matplotlib
import numpy as np
import pytest

from effects.config import EffectsConfig
from effects.model import check_model

PHOTO = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"

# (left, top, right, bottom) as fractions of width and height.
FACE = (0.40, 0.30, 0.62, 0.48)
JACKET = (0.25, 0.78, 0.55, 0.95)
FLAG = (0.0, 0.02, 0.20, 0.40)  # stars and stripes, top left
SKY = (0.82, 0.05, 1.0, 0.45)  # plain blue, right
PERSON_BOXES = (FACE, JACKET)
BACKGROUND_BOXES = (FLAG, SKY)

TIME_BASE = Fraction(1, 90000)


def box(image: np.ndarray, region: tuple[float, float, float, float]) -> np.ndarray:
    height, width = image.shape[:2]
    left, top, right, bottom = region
    return image[round(top * height) : round(bottom * height), round(left * width) : round(right * width)]


def laplacian_variance(image: np.ndarray) -> float:
    """High-frequency energy: variance of the Laplacian of the grey image."""
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def photo_bgr(width: int, height: int) -> np.ndarray:
    image = cv2.imread(str(PHOTO), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(PHOTO)
    return np.ascontiguousarray(cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA))


def photo_rgb(width: int, height: int) -> np.ndarray:
    return np.ascontiguousarray(photo_bgr(width, height)[:, :, ::-1])


def video_frame(bgr: np.ndarray, index: int = 0, fps: int = 30) -> av.VideoFrame:
    """A yuv420p frame as a VP8 decoder hands it to the pipeline, 90 kHz timestamps."""
    frame = av.VideoFrame.from_ndarray(bgr, format="bgr24").reformat(format="yuv420p")
    frame.pts = index * (90000 // fps)
    frame.time_base = TIME_BASE
    return frame


@pytest.fixture(scope="session")
def model_path() -> Path:
    return check_model(EffectsConfig())


@pytest.fixture(scope="session")
def photo_path() -> Path:
    return PHOTO
