"""What a chat message is in the transcript, and who may see it (pure functions).

A :class:`ChatRecord` is stored (as a msgpack map) in the room's transcript
(``ConsultationRecords`` of kind ``chat``), published on the store's event channel and
turned into the wire's ``chat_message`` / ``file_shared`` / ``chat_history`` entries.

Who sees a record (:func:`visible_to`), the one rule for history and live delivery alike:

* staff of the room (practitioners, department managers — the manual's department
  assistants are our department managers) see every thread while they are inside;
* a waiting person's thread (``waiting``) is seen by that person (their identity, so after
  a reconnect or once admitted too) and the staff;
* the ``consultation`` thread is seen by whoever is inside the consultation; a record with
  an ``audience`` (walk-in rooms: the identities inside when it was sent) only by them, so
  the next walk-in visitor does not read the previous one's chat.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from control.domain.roles import HOST_ROLES
from signalling import messages_chat as mc


@dataclass(frozen=True)
class Viewer:
    identity: str
    role: str
    #: inside the consultation (joined), not in the waiting room
    inside: bool

    @property
    def staff(self) -> bool:
        return self.role in HOST_ROLES


@dataclass(frozen=True)
class ChatRecord:
    message_id: str
    thread: str  # consultation | waiting
    kind: str  # text | link | file
    sender: dict[str, str]  # participant_id, identity, name, role
    at: float
    text: str | None = None
    url: str | None = None
    file: dict[str, Any] | None = None  # file_id, name, size, content_type
    waiting_identity: str | None = None
    audience: tuple[str, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "thread": self.thread,
            "kind": self.kind,
            "sender": dict(self.sender),
            "at": self.at,
            "text": self.text,
            "url": self.url,
            "file": None if self.file is None else dict(self.file),
            "waiting_identity": self.waiting_identity,
            "audience": None if self.audience is None else list(self.audience),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChatRecord:
        audience = data.get("audience")
        return cls(
            message_id=str(data["message_id"]),
            thread=str(data["thread"]),
            kind=str(data["kind"]),
            sender={k: str(v) for k, v in dict(data["sender"]).items()},
            at=float(data["at"]),
            text=data.get("text"),
            url=data.get("url"),
            file=data.get("file"),
            waiting_identity=data.get("waiting_identity"),
            audience=None if audience is None else tuple(str(a) for a in audience),
        )

    @property
    def content_bytes(self) -> int:
        """What the record holds of the consultation, for the bytes-held gauge."""
        file_name = (self.file or {}).get("name") or ""
        return sum(len(s.encode()) for s in (self.text or "", self.url or "", str(file_name)))

    def entry(self, *, available: bool | None = None) -> mc.ChatEntry:
        file = None
        if self.file is not None:
            file = mc.FileInfo(
                file_id=str(self.file["file_id"]),
                name=str(self.file["name"]),
                size=int(self.file["size"]),
                content_type=str(self.file["content_type"]),
                available=available,
            )
        return mc.ChatEntry(
            message_id=self.message_id,
            thread=self.thread,  # type: ignore[arg-type]
            kind=self.kind,  # type: ignore[arg-type]
            sender=mc.SenderInfo(**self.sender),
            at=self.at,
            text=self.text,
            url=self.url,
            file=file,
            waiting_identity=self.waiting_identity,
        )

    def hand_over_view(self) -> dict[str, Any]:
        """A record as the ``chat_transcript`` webhook carries it (no audience, no file bytes)."""
        view = self.to_dict()
        del view["audience"]
        return {k: v for k, v in view.items() if v is not None}


def visible_to(record: ChatRecord, viewer: Viewer) -> bool:
    if viewer.staff:
        return viewer.inside
    if record.thread == "waiting":
        return record.waiting_identity == viewer.identity
    if not viewer.inside:
        return False
    return record.audience is None or viewer.identity in record.audience


def wire_message(record: ChatRecord, ref: str | None = None) -> mc.ChatMessage | mc.FileShared:
    """The live message for a record (``file_shared`` for a file, else ``chat_message``)."""
    fields = vars(record.entry())
    cls: type[mc.ChatMessage] | type[mc.FileShared] = mc.FileShared if record.kind == "file" else mc.ChatMessage
    return cls(id=ref, **fields)
