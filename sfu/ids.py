"""Identifier types of the media plane."""

from __future__ import annotations

import secrets
from typing import NewType

RoomId = NewType("RoomId", str)
ParticipantId = NewType("ParticipantId", str)
ProducerId = NewType("ProducerId", str)
ConsumerId = NewType("ConsumerId", str)


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(8)}"
