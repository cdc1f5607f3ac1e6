"""Core messages of the signalling protocol, version 1 (documented in docs/signalling.md).

Two peer connections per participant, as in LiveKit: the *publish* connection
(the client offers, the server answers) carries what the participant sends; the
*subscribe* connection (the server offers, the client answers) carries what it
receives. Offers therefore never cross, and adding or removing a remote track only
renegotiates the subscribe connection of the participants concerned.

Server -> client types are registered with ``from_server``; a client sending one
gets ``unknown_type``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from signalling.codec import M, Message, ProtocolError, message

PcName = Literal["publish", "subscribe"]
Source = Literal["microphone", "camera", "screen", "screen_audio"]
Kind = Literal["audio", "video"]


def server_message(type_name: str) -> Callable[[M], M]:
    return message(type_name, from_server=True)


# ---------------------------------------------------------------- shared parts


#: RFC 8839 section 5.1 ``candidate-attribute`` (the ``candidate:`` prefix optional, as browsers
#: send it with it and some libraries without): foundation, component, transport, priority,
#: address, port, ``typ`` type, then name/value pairs (raddr, rport, generation, ufrag, ...).
_CANDIDATE = re.compile(
    r"(?:candidate:)?[A-Za-z0-9+/]{1,32} [0-9]{1,3} [A-Za-z][A-Za-z0-9_-]{0,15} [0-9]{1,10}"
    r" [A-Za-z0-9.:%_-]{1,253} [0-9]{1,5} typ [A-Za-z][A-Za-z0-9_-]{0,15}((?: [!-~]{1,255} [!-~]{1,255})*)"
)
MAX_CANDIDATE_CHARS = 1024
MAX_MID_CHARS = 32


@dataclass(kw_only=True)
class IceCandidate:
    """As a browser's ``RTCIceCandidate.toJSON()``; ``candidate: ""`` is the end of candidates."""

    candidate: str
    sdpMid: str | None = None
    sdpMLineIndex: int | None = None
    usernameFragment: str | None = None  # sent by toJSON(); the ufrag is in the SDP already

    def validate(self) -> None:
        if self.usernameFragment is not None and len(self.usernameFragment) > 256:
            raise ProtocolError("invalid_candidate", "field 'candidate.usernameFragment' is longer than 256")
        if len(self.candidate) > MAX_CANDIDATE_CHARS:
            raise ProtocolError("invalid_candidate", f"field 'candidate.candidate' is longer than {MAX_CANDIDATE_CHARS}")
        if self.sdpMid is not None and not 0 < len(self.sdpMid) <= MAX_MID_CHARS:
            raise ProtocolError("invalid_candidate", f"field 'candidate.sdpMid' must be 1 to {MAX_MID_CHARS} characters")
        if self.sdpMLineIndex is not None and not 0 <= self.sdpMLineIndex < 1024:
            raise ProtocolError("invalid_candidate", "field 'candidate.sdpMLineIndex' must be between 0 and 1023")
        if not self.candidate:
            return
        match = _CANDIDATE.fullmatch(self.candidate)
        if match is None:
            raise ProtocolError(
                "invalid_candidate",
                "field 'candidate.candidate' is not an ICE candidate (RFC 8839: 'candidate:<foundation> <component>"
                " <transport> <priority> <address> <port> typ <type> [name value]...')",
            )
        pairs = match.group(1).split()
        for name, value in zip(pairs[::2], pairs[1::2], strict=True):
            if name in ("rport", "generation", "network-id", "network-cost") and not value.isdigit():
                raise ProtocolError("invalid_candidate", f"field 'candidate.candidate': '{name}' must be a number")
        if int(self.candidate.split()[5]) > 65535:
            raise ProtocolError("invalid_candidate", "field 'candidate.candidate': port must be at most 65535")


@dataclass(kw_only=True)
class TrackInfo:
    """What a client says about a track it publishes (matched to the offer by ``mid``)."""

    mid: str
    source: Source
    muted: bool = False


@dataclass(kw_only=True)
class ParticipantInfo:
    participant_id: str
    identity: str
    name: str
    role: str


@dataclass(kw_only=True)
class ProducerInfo:
    producer_id: str
    participant_id: str
    kind: Kind
    source: Source
    muted: bool = False
    width: int | None = None
    height: int | None = None


@dataclass(kw_only=True)
class ConsumerInfo:
    """One m-line of the subscribe connection: which producer it carries."""

    mid: str
    producer_id: str
    participant_id: str
    kind: Kind
    source: Source


# ---------------------------------------------------------------- client -> server


@message("join")
@dataclass(kw_only=True)
class Join(Message):
    token: str


@message("offer")
@dataclass(kw_only=True)
class Offer(Message):
    """An SDP offer. From a client only on the publish connection."""

    pc: PcName
    sdp: str
    tracks: list[TrackInfo] = field(default_factory=list)

    def validate(self) -> None:
        if not self.sdp.startswith("v=0"):
            raise ProtocolError("invalid_sdp", "field 'sdp' is not an SDP description (must start with 'v=0')")


@message("answer")
@dataclass(kw_only=True)
class Answer(Message):
    """An SDP answer. From a client only on the subscribe connection."""

    pc: PcName
    sdp: str

    def validate(self) -> None:
        if not self.sdp.startswith("v=0"):
            raise ProtocolError("invalid_sdp", "field 'sdp' is not an SDP description (must start with 'v=0')")


@message("candidate")
@dataclass(kw_only=True)
class Candidate(Message):
    """A trickled ICE candidate; ``candidate: null`` means end of candidates."""

    pc: PcName
    candidate: IceCandidate | None  # required; null (not absent) is the end of candidates


@message("unpublish")
@dataclass(kw_only=True)
class Unpublish(Message):
    producer_id: str


@message("subscription")
@dataclass(kw_only=True)
class Subscription(Message):
    """Per-track preference of a subscriber: a resolution cap, or paused.

    ``max_height`` alone is enough (widths follow the source's aspect ratio);
    ``max_width``/``max_height`` both absent and ``paused`` false removes the cap.
    """

    producer_id: str
    max_width: int | None = None
    max_height: int | None = None
    paused: bool = False

    def validate(self) -> None:
        for name in ("max_width", "max_height"):
            value = getattr(self, name)
            if value is not None and not (16 <= value <= 4096):
                raise ProtocolError("invalid_field", f"field '{name}' must be between 16 and 4096")


@message("mute")
@dataclass(kw_only=True)
class Mute(Message):
    producer_id: str
    muted: bool


@message("request_resolution")
@dataclass(kw_only=True)
class RequestResolution(Message):
    """Ask the publisher of ``producer_id`` to send at most this size (it may decline)."""

    producer_id: str
    max_height: int

    def validate(self) -> None:
        if not (16 <= self.max_height <= 4096):
            raise ProtocolError("invalid_field", "field 'max_height' must be between 16 and 4096")


@message("leave")
@dataclass(kw_only=True)
class Leave(Message):
    pass


@message("ping")
@dataclass(kw_only=True)
class Ping(Message):
    pass


# ---------------------------------------------------------------- server -> client


@server_message("joined")
@dataclass(kw_only=True)
class Joined(Message):
    participant_id: str
    room: str
    identity: str
    name: str
    role: str
    ice_servers: list[dict[str, Any]]
    settings: dict[str, Any]
    participants: list[ParticipantInfo]
    producers: list[ProducerInfo]
    started_at: float | None = None
    #: true when this join took back the participant's session within the reconnect grace
    #: (same participant id; admitted status, queue place and choices kept); absent otherwise
    resumed: bool | None = None


@server_message("published")
@dataclass(kw_only=True)
class Published(Message):
    """Reply to a publish offer: the producer created for each offered track."""

    producers: list[ProducerInfo]


@server_message("subscribe_offer")
@dataclass(kw_only=True)
class SubscribeOffer(Message):
    """Server's offer on the subscribe connection, with what each m-line carries."""

    sdp: str
    consumers: list[ConsumerInfo]


@server_message("participant_joined")
@dataclass(kw_only=True)
class ParticipantJoined(Message):
    participant: ParticipantInfo


@server_message("participant_left")
@dataclass(kw_only=True)
class ParticipantLeft(Message):
    participant_id: str
    reason: str = "left"


@server_message("track_published")
@dataclass(kw_only=True)
class TrackPublished(Message):
    producer: ProducerInfo


@server_message("track_unpublished")
@dataclass(kw_only=True)
class TrackUnpublished(Message):
    producer_id: str
    participant_id: str


@server_message("track_muted")
@dataclass(kw_only=True)
class TrackMuted(Message):
    producer_id: str
    participant_id: str
    muted: bool


@server_message("resolution_requested")
@dataclass(kw_only=True)
class ResolutionRequested(Message):
    """Send at most ``max_height`` of this track: a subscriber's ``request_resolution``, or the
    server when every subscriber is capped lower (issue 15); None: the full size again."""

    producer_id: str
    max_height: int | None


@server_message("camera_problem")
@dataclass(kw_only=True)
class CameraProblem(Message):
    """A publisher's camera stopped delivering (``resolved`` once video flows again)."""

    participant_id: str
    producer_id: str
    resolved: bool = False


@server_message("participant_reconnecting")
@dataclass(kw_only=True)
class ParticipantReconnecting(Message):
    """A participant's connection dropped (``reconnecting: true``) or they are back (``false``).

    While reconnecting they stay in the room (their tile stays); if they are not back within
    the reconnect grace, ``participant_left`` follows.
    """

    participant_id: str
    reconnecting: bool = True
@server_message("quality")
@dataclass(kw_only=True)
class Quality(Message):
    """What your connection carries changed (issue 15). ``direction`` "receive": the videos you
    receive, each at the best picture your link carries: "good" (all at their best), "reduced"
    (``reduced`` lists the tracks at a lower resolution), "paused" (``paused`` lists the videos
    paused to keep audio; they resume by themselves). ``direction`` "send": your uplink, "good"
    or "limited" (``limited`` lists your videos that arrive well below what their picture needs)."""

    direction: Literal["receive", "send"] = "receive"
    state: Literal["good", "reduced", "paused", "limited"]
    estimate_kbps: int | None = None
    reduced: list[str] = field(default_factory=list)
    paused: list[str] = field(default_factory=list)
    limited: list[str] = field(default_factory=list)


@server_message("pong")
@dataclass(kw_only=True)
class Pong(Message):
    pass


@server_message("error")
@dataclass(kw_only=True)
class Error(Message):
    """``id`` echoes the offending message's id when it had one."""

    code: str
    message: str


@server_message("bye")
@dataclass(kw_only=True)
class Bye(Message):
    """The server closes the session: ``reason`` is e.g. left, ended, replaced, denied."""

    reason: str
    message: str | None = None
