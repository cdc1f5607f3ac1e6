"""The media plane's public face: what ``signalling/`` and ``control/`` import.

``MediaServer`` -> ``Room`` -> ``Participant`` (two peer connections) -> ``Producer`` (a
published track, which decides which source each of its legs gets) and ``Consumer`` (one
subscriber's leg). Everything else in this package is internal: import it from here.
"""

from typing import TYPE_CHECKING, Any

from sfu import events
from sfu.config import IceConfig, IceServer, RenditionConfig, SfuConfig
from sfu.errors import Forbidden, InvalidSdp, NotFound, SfuError, Unsupported, WrongState
from sfu.events import (
    CameraStalled,
    LinkQualityChanged,
    ParticipantJoined,
    ParticipantLeft,
    ProducerDescription,
    ResolutionRequestChanged,
    RoomClosed,
    RoomEvent,
    RoomListener,
    TrackMuted,
    TrackPublished,
    TrackUnpublished,
    UplinkQualityChanged,
)
from sfu.ids import ConsumerId, ParticipantId, ProducerId, RoomId, new_id
from sfu.kinds import MediaKind, TrackSource
from sfu.preference import Preference
from sfu.taps import AudioTap

if TYPE_CHECKING:
    from sfu.media_server import MediaServer
    from sfu.participant import ConsumerDescription, Participant, PublishedTrack
    from sfu.producer import Producer
    from sfu.room import Room
    from sfu.transform import FrameTransform

# The names above are light (settings, ids, events); these bring aiortc and PyAV (~50 MB of
# RSS, ~0.4 s): they are imported at their first use, so the CLI's commands and a node's
# supervisor, which read the [sfu]/[ice] settings but forward no media, never load them.
_LAZY = {
    "MediaServer": "sfu.media_server",
    "ConsumerDescription": "sfu.participant",
    "Participant": "sfu.participant",
    "PublishedTrack": "sfu.participant",
    "Producer": "sfu.producer",
    "Room": "sfu.room",
    "FrameTransform": "sfu.transform",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'sfu' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "AudioTap",
    "CameraStalled",
    "ConsumerDescription",
    "ConsumerId",
    "Forbidden",
    "FrameTransform",
    "IceConfig",
    "IceServer",
    "InvalidSdp",
    "LinkQualityChanged",
    "MediaKind",
    "MediaServer",
    "NotFound",
    "Participant",
    "ParticipantId",
    "ParticipantJoined",
    "ParticipantLeft",
    "Preference",
    "Producer",
    "ProducerDescription",
    "ProducerId",
    "PublishedTrack",
    "RenditionConfig",
    "ResolutionRequestChanged",
    "Room",
    "RoomClosed",
    "RoomEvent",
    "RoomId",
    "RoomListener",
    "SfuConfig",
    "SfuError",
    "TrackMuted",
    "TrackPublished",
    "TrackSource",
    "TrackUnpublished",
    "Unsupported",
    "UplinkQualityChanged",
    "WrongState",
    "events",
    "new_id",
]
