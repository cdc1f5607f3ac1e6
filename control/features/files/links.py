"""Download links of shared files: short-lived, bound to one participant (pure, ``now`` passed in).

A link is ``files/<room>/<file_id>?t=<token>``; the token is ``<payload>.<signature>``,
the payload the base64url JSON ``[room, file_id, participant_id, expires_at]``, the
signature HMAC-SHA256 with a key derived from the server's secret. The download route
checks the signature, the expiry, the room and file, and that the participant is in the
consultation *now* (someone who left cannot use a link they were given).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass


class LinkError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Link:
    room: str
    file_id: str
    participant_id: str
    expires_at: float


def link_key(secret: str) -> bytes:
    return hmac.new(secret.encode(), b"consult-sfu file links v1", hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def mint(key: bytes, link: Link) -> str:
    payload = _b64(json.dumps([link.room, link.file_id, link.participant_id, round(link.expires_at, 3)], separators=(",", ":")).encode())
    signature = _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())
    return f"{payload}.{signature}"


def check(key: bytes, token: str, room: str, file_id: str, now: float) -> Link:
    """The link a token stands for; :class:`LinkError` (``invalid_link``, ``link_expired``)."""
    payload, _, signature = token.partition(".")
    expected = _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())
    if not payload or not hmac.compare_digest(expected, signature):
        raise LinkError("invalid_link", "this download link is not valid: ask for the file again")
    try:
        linked_room, linked_file, participant_id, expires_at = json.loads(_unb64(payload))
        link = Link(str(linked_room), str(linked_file), str(participant_id), float(expires_at))
    except (ValueError, TypeError):
        raise LinkError("invalid_link", "this download link is not valid: ask for the file again") from None
    if link.room != room or link.file_id != file_id:
        raise LinkError("invalid_link", "this download link is for another file")
    if now > link.expires_at:
        raise LinkError("link_expired", "this download link has expired: click the file again for a new one")
    return link
