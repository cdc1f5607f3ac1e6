"""Chat, shared links and shared files: messages of the signalling protocol, version 1.

See docs/signalling.md ("Chat and files") for the table, the rules and the errors.

Two threads exist in a room:

* ``consultation``: everyone inside the consultation (history for whoever joins or
  reconnects while it runs; in walk-in rooms a visitor sees only what was said while
  they were inside);
* ``waiting``: one per waiting person (``waiting_identity``), between them and the staff
  of the room (practitioners and department managers). A staff member answers a waiting
  person with ``to`` = their ``participant_id`` (from the ``queue``).

Client -> server:

* ``chat_send`` — ``kind`` ``text`` (``text``, 1 byte .. 4 KiB of UTF-8) or ``link``
  (``url``: http or https, at most 2048 characters, no user name or password in it;
  ``text``: an optional label). ``to``: staff only, a waiting person's participant id.
  The reply is the ``chat_message`` itself, with the request's ``id``.
* ``get_file_link`` — ``file_id``: a download address for a shared file, valid for a
  short time and only for the participant who asked (reply ``file_link``, same ``id``).

Server -> client:

* ``chat_message`` — one message (:class:`ChatEntry` fields);
* ``file_shared`` — a participant shared a file (``kind`` ``file``, ``file``);
* ``chat_history`` — everything the participant may see, sent after ``waiting`` and after
  ``joined`` (a message may come both live and in a history: ``message_id`` tells), and
  ``retention``: ``delete`` or ``hand_over`` (what happens to the chat at the end);
* ``file_link`` — ``file_id``, ``url`` (relative to the folder of the ``/ws`` endpoint),
  ``expires_at``;
* ``file_limits`` — after ``joined``: ``max_file_bytes``, ``max_room_bytes``,
  ``extensions`` (what may be shared; the server checks the content, not only the name).

Files are uploaded over HTTP (``POST /files/<room>``, docs/api.md), not over the socket.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from signalling.codec import Message, ProtocolError, message

#: A chat text or a link's label, in bytes of UTF-8.
MAX_TEXT_BYTES = 4096
MAX_URL_LENGTH = 2048
MAX_ID_LENGTH = 64

ChatKind = Literal["text", "link", "file"]
SendKind = Literal["text", "link"]
Thread = Literal["consultation", "waiting"]

_UNSAFE_IN_URL = re.compile(r"[\x00-\x20\x7f]")


def check_text(name: str, text: str) -> None:
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_TEXT_BYTES:
        raise ProtocolError("too_long", f"field '{name}' is {size} bytes of UTF-8; the limit is {MAX_TEXT_BYTES} (4 KiB)")


def check_url(url: str) -> None:
    """http(s) only, with a host, no credentials, no spaces or control characters."""
    if len(url) > MAX_URL_LENGTH:
        raise ProtocolError("invalid_url", f"field 'url' is {len(url)} characters; the limit is {MAX_URL_LENGTH}")
    if _UNSAFE_IN_URL.search(url):
        raise ProtocolError("invalid_url", "field 'url' must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        raise ProtocolError("invalid_url", "field 'url' is not a valid address") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ProtocolError("invalid_url", "field 'url' must start with http:// or https://")
    if not host:
        raise ProtocolError("invalid_url", "field 'url' must name a host (https://example.org/...)")
    if parts.username is not None or parts.password is not None:
        raise ProtocolError("invalid_url", "field 'url' must not carry a user name or password")


# ---------------------------------------------------------------- shared parts


@dataclass(kw_only=True)
class SenderInfo:
    participant_id: str
    identity: str
    name: str
    role: str


@dataclass(kw_only=True)
class FileInfo:
    file_id: str
    name: str
    size: int
    content_type: str
    #: in ``chat_history``: whether the file can still be downloaded
    available: bool | None = None


@dataclass(kw_only=True)
class ChatEntry:
    message_id: str
    thread: Thread
    kind: ChatKind
    sender: SenderInfo
    at: float
    text: str | None = None
    url: str | None = None
    file: FileInfo | None = None
    #: thread ``waiting``: whose waiting-room chat this is
    waiting_identity: str | None = None


# ---------------------------------------------------------------- client -> server


@message("chat_send")
@dataclass(kw_only=True)
class ChatSend(Message):
    kind: SendKind = "text"
    text: str | None = None
    url: str | None = None
    to: str | None = None

    def validate(self) -> None:
        if self.kind == "text":
            if self.url is not None:
                raise ProtocolError("invalid_field", "field 'url' is only allowed when kind is 'link'")
            if self.text is None or not self.text.strip():
                raise ProtocolError("missing_field", "field 'text' is required (and not blank) when kind is 'text'")
        else:
            if self.url is None:
                raise ProtocolError("missing_field", "field 'url' is required when kind is 'link'")
            check_url(self.url)
        if self.text is not None:
            check_text("text", self.text)
        if self.to is not None and len(self.to) > MAX_ID_LENGTH:
            raise ProtocolError("invalid_field", f"field 'to' must be at most {MAX_ID_LENGTH} characters")


@message("get_file_link")
@dataclass(kw_only=True)
class GetFileLink(Message):
    file_id: str

    def validate(self) -> None:
        if not self.file_id or len(self.file_id) > MAX_ID_LENGTH:
            raise ProtocolError("invalid_field", f"field 'file_id' must be 1 to {MAX_ID_LENGTH} characters")


# ---------------------------------------------------------------- server -> client


@message("chat_message", from_server=True)
@dataclass(kw_only=True)
class ChatMessage(ChatEntry, Message):
    pass


@message("file_shared", from_server=True)
@dataclass(kw_only=True)
class FileShared(ChatEntry, Message):
    pass


@message("chat_history", from_server=True)
@dataclass(kw_only=True)
class ChatHistory(Message):
    messages: list[ChatEntry] = field(default_factory=list)
    #: what happens to the chat when the consultation ends: deleted, or handed over to the
    #: practice's scheduling platform (then deleted here) — pages tell the patient
    retention: Literal["delete", "hand_over"] | None = None


@message("file_link", from_server=True)
@dataclass(kw_only=True)
class FileLink(Message):
    file_id: str
    url: str
    expires_at: float


@message("file_limits", from_server=True)
@dataclass(kw_only=True)
class FileLimits(Message):
    max_file_bytes: int
    max_room_bytes: int
    extensions: list[str] = field(default_factory=list)


CLIENT_TYPES = frozenset({"chat_send", "get_file_link"})
