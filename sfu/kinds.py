"""What a track is: its media kind and its source, as the wire protocol names them.

The same values as ``signalling.messages.Kind`` and ``Source`` (that module is stdlib only and
does not import us), so a producer's description goes on the wire without a cast.
"""

from __future__ import annotations

from typing import Literal, TypeGuard, get_args

MediaKind = Literal["audio", "video"]
TrackSource = Literal["microphone", "camera", "screen", "screen_audio"]

MEDIA_KINDS: tuple[MediaKind, ...] = get_args(MediaKind)
TRACK_SOURCES: tuple[TrackSource, ...] = get_args(TrackSource)


def is_media_kind(value: str) -> TypeGuard[MediaKind]:
    return value in MEDIA_KINDS


def is_track_source(value: str) -> TypeGuard[TrackSource]:
    return value in TRACK_SOURCES


def default_source(kind: MediaKind) -> TrackSource:
    """The source of a track its publisher did not describe."""
    return "microphone" if kind == "audio" else "camera"
