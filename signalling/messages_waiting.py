"""Waiting-room messages of the signalling protocol, version 1.

Server -> client:

* ``waiting``: you are in the waiting room (sent on join and on every change): your
  status (on_time, late, walk_in, waiting_for_client), the appointment time, since when
  you wait, the visible announcements, the practitioner's status (offline, online,
  in_consultation) and the server's clock (to show early / on time / late).
* ``announcement``: the announcements visible now (full list, replaces the previous).
* ``queue``: for practitioners and department managers, the live waiting list.
* ``admitted``: you leave the waiting room; ``joined`` follows.
* ``denied``: you were not let in (``message`` from the practitioner); the server closes.
* ``access_refused``: joining is refused (too_early with ``opens_at``, too_late,
  room_ended, not_found, unavailable when the store is down); the server closes.
* ``consultation_ended``: the consultation is over (``post_consultation_message``);
  the server closes with ``bye`` reason ``ended``.

Client -> server (practitioners and department managers only): ``admit``, ``deny``,
``force_start``, ``end_consultation``, ``set_availability`` (walk-in rooms).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from signalling.codec import Message, ProtocolError, message
from signalling.messages import server_message

MAX_DENY_MESSAGE = 1000


@dataclass(kw_only=True)
class AnnouncementInfo:
    id: str
    text: str
    created_at: float
    expires_at: float | None = None
    scope: str = "room"  # room | department


@dataclass(kw_only=True)
class WaitingEntryInfo:
    participant_id: str
    identity: str
    name: str
    role: str
    status: str
    room: str
    appointment_at: float | None = None
    waiting_since: float | None = None


# ---------------------------------------------------------------- server -> client


@server_message("waiting")
@dataclass(kw_only=True)
class Waiting(Message):
    status: str
    practitioner_status: str
    server_time: float
    appointment_at: float | None = None
    waiting_since: float | None = None
    announcements: list[AnnouncementInfo] = field(default_factory=list)


@server_message("announcement")
@dataclass(kw_only=True)
class Announcements(Message):
    announcements: list[AnnouncementInfo]


@server_message("queue")
@dataclass(kw_only=True)
class Queue(Message):
    room: str
    entries: list[WaitingEntryInfo]
    state: str = "scheduled"  # the room's state: scheduled, started, ended
    available: bool | None = None  # walk-in rooms: the practitioner's availability


@server_message("admitted")
@dataclass(kw_only=True)
class Admitted(Message):
    pass


@server_message("denied")
@dataclass(kw_only=True)
class Denied(Message):
    message: str = ""


@server_message("access_refused")
@dataclass(kw_only=True)
class AccessRefused(Message):
    reason: str
    message: str
    opens_at: float | None = None


@server_message("consultation_ended")
@dataclass(kw_only=True)
class ConsultationEnded(Message):
    post_consultation_message: str = ""
    duration_s: float | None = None


# ---------------------------------------------------------------- client -> server


@message("admit")
@dataclass(kw_only=True)
class Admit(Message):
    participant_id: str


@message("deny")
@dataclass(kw_only=True)
class Deny(Message):
    participant_id: str
    message: str = ""

    def validate(self) -> None:
        if len(self.message) > MAX_DENY_MESSAGE:
            raise ProtocolError("invalid_field", f"field 'message' must be at most {MAX_DENY_MESSAGE} characters")


@message("force_start")
@dataclass(kw_only=True)
class ForceStart(Message):
    pass


@message("end_consultation")
@dataclass(kw_only=True)
class EndConsultation(Message):
    pass


@message("set_availability")
@dataclass(kw_only=True)
class SetAvailability(Message):
    available: bool


CLIENT_TYPES = frozenset({"admit", "deny", "force_start", "end_consultation", "set_availability"})
