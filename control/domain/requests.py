"""Building domain objects from already schema-checked request bodies.

The JSON schema (control/api/schemas.py) checks types and ranges; this module adds the
rules that span fields (end after start, who an appointment needs) and defaults
(access window start - 1 h .. end + 1 h).
"""

from __future__ import annotations

from typing import Any

from control.domain.errors import Forbidden, InvalidField
from control.domain.model import (
    DEFAULT_WINDOW_AFTER_S,
    DEFAULT_WINDOW_BEFORE_S,
    Person,
    Room,
    RoomKind,
    RoomSettings,
)
from control.domain.scope import Scope

QUICK_DEFAULT_LENGTH_S = 3600.0
MAX_LENGTH_S = 7 * 24 * 3600.0


def _person(data: dict[str, Any] | None) -> Person | None:
    if data is None:
        return None
    return Person(identity=data["identity"], name=data.get("name"))


def _settings(body: dict[str, Any]) -> RoomSettings:
    values = dict(body)
    deleted_after = values.pop("chat_deleted_after", None)  # deprecated: chat_retention replaced it
    if deleted_after is not None:
        implied = "delete" if deleted_after else "hand_over"
        if values.get("chat_retention") not in (None, implied):
            raise InvalidField(
                "settings.chat_deleted_after",
                f"contradicts 'settings.chat_retention' ({values['chat_retention']}); send chat_retention only",
            )
        values["chat_retention"] = implied
    return RoomSettings(**values)


def new_room(body: dict[str, Any], scope: Scope, room_id: str, now: float) -> Room:
    kind = RoomKind(body["kind"])
    department = body.get("department")
    if scope.department is not None:
        if department is None:
            department = scope.department
        elif department != scope.department:
            raise Forbidden(f"field 'department' must be '{scope.department}' for this API key")
    practitioner = _person(body.get("practitioner"))
    client = _person(body.get("client"))
    guests = [Person(g["identity"], g.get("name")) for g in body.get("guests", [])]
    if kind is RoomKind.QUICK:
        starts_at = float(body.get("starts_at", now))
        ends_at = float(body.get("ends_at", starts_at + QUICK_DEFAULT_LENGTH_S))
    else:
        for name in ("starts_at", "ends_at"):
            if name not in body:
                raise InvalidField(name, f"is required for kind '{kind.value}'", code="missing_field")
        starts_at, ends_at = float(body["starts_at"]), float(body["ends_at"])
    if ends_at <= starts_at:
        raise InvalidField("ends_at", "must be after 'starts_at'")
    if ends_at - starts_at > MAX_LENGTH_S:
        raise InvalidField("ends_at", "must be at most 7 days after 'starts_at'")
    if kind is RoomKind.APPOINTMENT:
        if client is None:
            raise InvalidField("client", "is required for an appointment", code="missing_field")
        if practitioner is None and department is None:
            raise InvalidField(
                "practitioner", "or 'department' is required for an appointment", code="missing_field"
            )
    if kind is RoomKind.WALK_IN and practitioner is None:
        raise InvalidField("practitioner", "is required for a walk_in room", code="missing_field")
    window = body.get("access_window", {})
    before = float(window.get("before_start_s", DEFAULT_WINDOW_BEFORE_S))
    after = float(window.get("after_end_s", DEFAULT_WINDOW_AFTER_S))
    return Room(
        id=room_id,
        org=scope.org,
        kind=kind,
        starts_at=starts_at,
        ends_at=ends_at,
        opens_at=starts_at - before,
        closes_at=ends_at + after,
        created_at=now,
        department=department,
        practitioner=practitioner,
        client=client,
        guests=guests,
        settings=_settings(body.get("settings", {})),
        metadata=dict(body.get("metadata", {})),
    )
