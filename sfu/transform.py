"""Plug-in points of the rendition pipeline (decode -> transform -> scale -> encode -> fan out).

A :class:`FrameTransform` changes a producer's decoded video before it is scaled and
encoded, once per producer, for every subscriber (background effects are one). It runs
in the pipeline's worker thread, never on the event loop, so it may take milliseconds.

The pipeline keeps at most one frame waiting per stage: when a transform is slower than
the source, frames are dropped and the processed stream's frame rate falls, while the
event loop, audio and other producers are not delayed.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import av


@runtime_checkable
class FrameTransform(Protocol):
    """Turns one decoded frame into another of the same size (any pixel format in)."""

    #: Short name for stats and logs, e.g. ``"blur:strong"``.
    name: str

    def apply(self, frame: av.VideoFrame) -> av.VideoFrame:
        """Called from a worker thread with frames in presentation order."""
        ...

    def close(self) -> None:
        """Release resources; called once, from the worker thread, after the last apply()."""
        ...
