"""What a participant is told about its media room: room events -> wire messages.

Pure translation (no I/O): :func:`messages_for` gives the messages one participant gets for
one event of its room. What a session *does* on an event besides telling (re-applying kept
choices, reporting a camera problem, closing at the room's end) stays in the session.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sfu import events as ev
from signalling import messages as m
from signalling.codec import Message
from signalling.resume import RESUMED

if TYPE_CHECKING:  # brings aiortc: loaded at the first room (sfu/__init__.py)
    from sfu import Participant


def participant_info(p: Participant) -> m.ParticipantInfo:
    return m.ParticipantInfo(participant_id=p.id, identity=p.identity, name=p.name, role=p.role)


def producer_info(d: ev.ProducerDescription) -> m.ProducerInfo:
    return m.ProducerInfo(
        producer_id=d.producer_id,
        participant_id=d.participant_id,
        kind=d.kind,
        source=d.source,
        muted=d.muted,
        width=d.width,
        height=d.height,
    )


def messages_for(event: ev.RoomEvent, me: str | None, returning: set[str]) -> list[Message]:
    """The messages participant ``me`` gets for ``event``.

    ``returning`` holds the participants who left to take their session back (a reconnect):
    their leave and their join become one ``participant_reconnecting`` pair, not left + joined.
    """
    if isinstance(event, ev.ParticipantJoined):
        if event.participant_id in returning:
            returning.discard(event.participant_id)
            return [m.ParticipantReconnecting(participant_id=event.participant_id, reconnecting=False)]
        if event.participant_id == me:
            return []
        info = m.ParticipantInfo(participant_id=event.participant_id, identity=event.identity, name=event.name, role=event.role)
        return [m.ParticipantJoined(participant=info)]
    if isinstance(event, ev.ParticipantLeft):
        if event.reason == RESUMED:
            returning.add(event.participant_id)  # the same participant is coming back
            return []
        return [] if event.participant_id == me else [m.ParticipantLeft(participant_id=event.participant_id, reason=event.reason)]
    if isinstance(event, ev.TrackPublished):
        return [] if event.producer.participant_id == me else [m.TrackPublished(producer=producer_info(event.producer))]
    if isinstance(event, ev.TrackUnpublished):
        return [] if event.participant_id == me else [m.TrackUnpublished(producer_id=event.producer_id, participant_id=event.participant_id)]
    if isinstance(event, ev.TrackMuted):
        return [m.TrackMuted(producer_id=event.producer_id, participant_id=event.participant_id, muted=event.muted)]
    if isinstance(event, ev.CameraStalled):
        return [m.CameraProblem(participant_id=event.participant_id, producer_id=event.producer_id, resolved=event.resolved)]
    if isinstance(event, ev.LinkQualityChanged) and event.participant_id == me:
        estimate = None if event.estimate_bps is None else event.estimate_bps // 1000
        return [m.Quality(state=event.state, estimate_kbps=estimate, reduced=list(event.reduced), paused=list(event.paused))]
    if isinstance(event, ev.UplinkQualityChanged) and event.participant_id == me:
        estimate = None if event.estimate_bps is None else event.estimate_bps // 1000
        return [m.Quality(direction="send", state=event.state, estimate_kbps=estimate, limited=list(event.producers))]
    if isinstance(event, ev.ResolutionRequestChanged) and event.participant_id == me:
        return [m.ResolutionRequested(producer_id=event.producer_id, max_height=event.max_height)]
    return []
