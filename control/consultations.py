"""Consultations service: the rules of control.domain applied to the store, with events.

Both the REST API (with an API key's :class:`Scope`) and the live lobby (with a join
token's claims) go through this class, so a rule holds the same way on both paths.
Every state change is one atomic ``store.update_room`` run; the events it produced are
then published on the store's channel (every process's lobby pushes them to its
WebSocket sessions) and handed to the webhook dispatcher (which never blocks).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from typing import Any, Protocol

from control import tokens
from control.domain import rules
from control.domain.errors import Conflict, Forbidden, NotFound
from control.domain.model import Announcement, Department, OrgSettings, Room, RoomKind, RoomState
from control.domain.requests import new_room
from control.domain.rules import Event, Joiner, JoinResult
from control.domain.scope import Scope
from control.domain.views import waiting_entry
from control.store import Store

# A token stays cryptographically valid this long after the access window closes, so a
# late join is refused with the clear reason ``too_late`` rather than a bare expiry.
TOKEN_GRACE_S = 24 * 3600.0


class EventSink(Protocol):
    def emit(self, event: Event) -> bool: ...


class Consultations:
    def __init__(
        self,
        store: Store,
        *,
        secret: str,
        public_url: str,
        clock: Callable[[], float],
        webhooks: EventSink | None = None,
    ) -> None:
        self.store = store
        self.secret = secret
        self.public_url = public_url
        self.clock = clock
        self.webhooks = webhooks

    # ------------------------------------------------------------ plumbing

    async def emit(self, events: list[Event]) -> None:
        for event in events:
            if self.webhooks is not None:
                self.webhooks.emit(event)
            await self.store.publish(event)

    async def _change(
        self, room_id: str, scope: Scope | None, change: Callable[[Room, float], list[Event]]
    ) -> tuple[Room, list[Event]]:
        now = self.clock()

        def apply(room: Room) -> tuple[Room, list[Event]]:
            if scope is not None and not scope.sees(room):
                raise NotFound("room")
            return room, change(room, now)

        room, events = await self.store.update_room(room_id, apply)
        await self.emit(events)
        return room, events

    async def room(self, scope: Scope, room_id: str) -> Room:
        room = await self.store.get_room(room_id)
        if room is None or not scope.sees(room):
            raise NotFound("room")
        return room

    # ------------------------------------------------------------ rooms

    async def create_room(self, scope: Scope, body: dict[str, Any]) -> Room:
        now = self.clock()
        for _ in range(5):
            room = new_room(body, scope, "r" + secrets.token_hex(8), now)
            if await self.store.create_room(room):
                await self.emit([rules.room_event(room, "room_created", now, kind=room.kind.value)])
                return room
        raise Conflict("id_collision", "could not allocate a room id; retry")

    async def list_rooms(
        self,
        scope: Scope,
        *,
        department: str | None = None,
        state: str | None = None,
        kind: str | None = None,
        starts_after: float | None = None,
        starts_before: float | None = None,
    ) -> list[Room]:
        if department is not None:
            _require_department(scope, department)
        rooms = await self.store.list_rooms(scope.org, department or scope.department)
        return sorted(
            (
                r
                for r in rooms
                if scope.sees(r)
                and (state is None or r.state.value == state)
                and (kind is None or r.kind.value == kind)
                and (starts_after is None or r.starts_at >= starts_after)
                and (starts_before is None or r.starts_at < starts_before)
            ),
            key=lambda r: (r.starts_at, r.id),
        )

    async def end(self, scope: Scope | None, room_id: str, reason: str = "ended") -> Room:
        room, _ = await self._change(room_id, scope, lambda r, now: rules.end(r, now, reason))
        return room

    async def force_start(self, scope: Scope | None, room_id: str) -> Room:
        room, _ = await self._change(room_id, scope, lambda r, now: rules.force_start(r, now))
        return room

    async def issue_token(self, scope: Scope, room_id: str, body: dict[str, Any]) -> dict[str, Any]:
        room = await self.room(scope, room_id)
        now = self.clock()
        if room.state is RoomState.ENDED:
            raise Conflict("room_ended", "the consultation has ended; no new tokens")
        if now > room.closes_at:
            raise Conflict("too_late", "the room's access window has closed")
        # the lifetime bound of control/tokens.py counts from the window's opening
        extra: dict[str, Any] = {"org": room.org, "opens_at": int(room.opens_at)}
        if room.department is not None:
            extra["dept"] = room.department
        if room.state is RoomState.STARTED and room.kind is not RoomKind.WALK_IN:
            extra["inv"] = True  # invited during the call: joins the running consultation directly
        ttl_s = room.closes_at + TOKEN_GRACE_S - now
        token = tokens.mint(
            self.secret,
            room=room.id,
            identity=body["identity"],
            name=body.get("name"),
            role=body["role"],
            ttl_s=ttl_s,
            now=now,
            extra=extra,
        )
        return {
            "token": token,
            "join_url": tokens.join_url(self.public_url, room.id, token),
            "expires_at": float(int(now + ttl_s)),
            "access_window": {"opens_at": room.opens_at, "closes_at": room.closes_at},
            "room": room.id,
            "identity": body["identity"],
            "role": body["role"],
        }

    # ------------------------------------------------------------ waiting room

    async def waiting(self, scope: Scope, room_id: str) -> list[dict[str, Any]]:
        room = await self.room(scope, room_id)
        return [waiting_entry(room, p) for p in room.waiting()]

    async def department_waiting(self, scope: Scope, department: str) -> list[dict[str, Any]]:
        _require_department(scope, department)
        entries = [
            waiting_entry(room, p)
            for room in await self.store.list_rooms(scope.org, department)
            for p in room.waiting()
        ]
        return sorted(entries, key=lambda e: (e["waiting_since"] or 0, e["participant_id"]))

    async def admit(self, scope: Scope | None, room_id: str, participant_id: str) -> Room:
        room, _ = await self._change(room_id, scope, lambda r, now: rules.admit(r, participant_id, now))
        return room

    async def deny(self, scope: Scope | None, room_id: str, participant_id: str, message: str) -> Room:
        room, _ = await self._change(
            room_id, scope, lambda r, now: rules.deny(r, participant_id, message, now)
        )
        return room

    async def set_availability(self, scope: Scope | None, room_id: str, available: bool) -> Room:
        room, _ = await self._change(
            room_id, scope, lambda r, now: rules.set_availability(r, available, now)
        )
        return room

    async def available_now(self, scope: Scope, department: str | None) -> list[Room]:
        now = self.clock()
        rooms = await self.list_rooms(scope, department=department, kind="walk_in")
        return [r for r in rooms if rules.available_now(r, now)]

    # ------------------------------------------------------------ live sessions (the lobby)

    async def join(self, room_id: str, joiner: Joiner, participant_id: str, org: str | None) -> tuple[JoinResult, Room | None]:
        """Admission decision at connect/reconnect; records the presence atomically."""

        def apply(room: Room) -> tuple[JoinResult, list[Event], Room]:
            if org is not None and room.org != org:
                raise NotFound("room")
            result, events = rules.join(room, joiner, participant_id, now)
            return result, events, room

        now = self.clock()
        try:
            result, events, room = await self.store.update_room(room_id, apply)
        except NotFound:
            return JoinResult("refuse", "not_found", "this consultation does not exist"), None
        await self.emit(events)
        return result, room

    async def leave(self, room_id: str, participant_id: str) -> None:
        try:
            await self._change(room_id, None, lambda r, now: rules.leave(r, participant_id, now))
        except NotFound:
            return

    async def camera_problem(self, room_id: str, participant_id: str, producer_id: str, resolved: bool) -> None:
        room = await self.store.get_room(room_id)
        if room is None:
            return
        await self.emit([rules.camera_problem(room, participant_id, producer_id, resolved, self.clock())])

    # ------------------------------------------------------------ announcements

    async def add_room_announcement(self, scope: Scope, room_id: str, body: dict[str, Any]) -> Announcement:
        ann = self._announcement(body)

        def change(room: Room, now: float) -> list[Event]:
            room.announcements.append(ann)
            return [rules.room_event(room, rules.ANNOUNCEMENTS_CHANGED, now)]

        await self._change(room_id, scope, change)
        return ann

    async def delete_room_announcements(self, scope: Scope, room_id: str, announcement_id: str | None) -> None:
        def change(room: Room, now: float) -> list[Event]:
            if announcement_id is None:
                room.announcements.clear()
            else:
                rules.remove_announcement(room.announcements, announcement_id)
            return [rules.room_event(room, rules.ANNOUNCEMENTS_CHANGED, now)]

        await self._change(room_id, scope, change)

    async def department(self, scope: Scope, department: str) -> Department:
        _require_department(scope, department)
        return await self.store.get_department(scope.org, department)

    async def add_department_announcement(self, scope: Scope, department: str, body: dict[str, Any]) -> Announcement:
        _require_department(scope, department)
        ann = self._announcement(body)

        def change(dept: Department) -> None:
            dept.announcements.append(ann)

        await self.store.update_department(scope.org, department, change)
        await self.emit([self._department_event(scope.org, department)])
        return ann

    async def delete_department_announcements(
        self, scope: Scope, department: str, announcement_id: str | None
    ) -> None:
        _require_department(scope, department)

        def change(dept: Department) -> None:
            if announcement_id is None:
                dept.announcements.clear()
            else:
                rules.remove_announcement(dept.announcements, announcement_id)

        await self.store.update_department(scope.org, department, change)
        await self.emit([self._department_event(scope.org, department)])

    async def visible_announcements(self, room: Room) -> list[tuple[Announcement, str]]:
        """What people waiting in ``room`` see now: the room's and its department's."""
        now = self.clock()
        shown = [(a, "room") for a in rules.visible_announcements(room.announcements, now)]
        if room.department is not None:
            dept = await self.store.get_department(room.org, room.department)
            shown += [(a, "department") for a in rules.visible_announcements(dept.announcements, now)]
        return sorted(shown, key=lambda item: (item[0].created_at, item[0].id))

    def _announcement(self, body: dict[str, Any]) -> Announcement:
        now = self.clock()
        expires_at = body.get("expires_at")
        if expires_at is None and body.get("expires_in_s") is not None:
            expires_at = now + float(body["expires_in_s"])
        return Announcement(
            id="a" + uuid.uuid4().hex[:16],
            text=body["text"],
            created_at=now,
            expires_at=None if expires_at is None else float(expires_at),
        )

    def _department_event(self, org: str, department: str) -> Event:
        return Event(rules.ANNOUNCEMENTS_CHANGED, org, None, self.clock(), department=department)

    # ------------------------------------------------------------ organisation settings

    async def configure_webhooks(self, scope: Scope, urls: list[str]) -> OrgSettings:
        def change(settings: OrgSettings) -> OrgSettings:
            settings.webhook_urls = list(dict.fromkeys(urls))
            if settings.webhook_secret is None:
                settings.webhook_secret = "whsec_" + secrets.token_urlsafe(32)
            return settings

        return await self.store.update_org(scope.org, change)

    async def rotate_webhook_secret(self, scope: Scope, overlap_s: float) -> OrgSettings:
        """A new signing secret; the old one signs deliveries too for ``overlap_s`` seconds."""
        now = self.clock()

        def change(settings: OrgSettings) -> OrgSettings:
            if settings.webhook_secret is not None and overlap_s > 0:
                settings.webhook_previous_secret = settings.webhook_secret
                settings.webhook_previous_until = now + overlap_s
            else:
                settings.webhook_previous_secret, settings.webhook_previous_until = None, 0.0
            settings.webhook_secret = "whsec_" + secrets.token_urlsafe(32)
            return settings

        return await self.store.update_org(scope.org, change)

def _require_department(scope: Scope, department: str) -> None:
    """A department key naming another department: 403, as for creating a room there (docs/api.md).

    (A room of another department reached by its id stays a plain 404: the id says nothing.)
    """
    if not scope.sees_department(department):
        raise Forbidden(f"this API key is for department '{scope.department}', not '{department}'")
