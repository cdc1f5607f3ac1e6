"""The media plane's public face: what ``signalling/`` and ``control/`` import.

``MediaServer`` -> ``Room`` -> ``Participant`` (two peer connections) -> ``Producer`` (a
published track, which decides which source each of its legs gets) and ``Consumer`` (one
subscriber's leg). Everything else in this package is internal: import it from here.
"""

from sfu import events
from sfu.config import IceConfig, IceServer, RenditionConfig, SfuConfig
from sfu.errors import Forbidden, InvalidSdp, NotFound, SfuError, Unsupported, WrongState
from sfu.events import (
    CameraStalled,
    LinkQualityChanged,
    ParticipantJoined,
    ParticipantLeft,
    ProducerDescription,
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
from sfu.media_server import MediaServer
from sfu.participant import ConsumerDescription, Participant, PublishedTrack
from sfu.preference import Preference
from sfu.producer import Producer
from sfu.room import Room
from sfu.taps import AudioTap
from sfu.transform import FrameTransform

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
