"""Who is asking: an organisation, optionally restricted to one department.

Strict department separation: a department-scoped caller sees and acts only on that
department's rooms, waiting clients and announcements. Anything outside its scope is
reported exactly like a room that does not exist (404), so scopes leak nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from control.domain.model import Room


@dataclass(frozen=True)
class Scope:
    org: str
    department: str | None = None

    def sees(self, room: Room) -> bool:
        if room.org != self.org:
            return False
        return self.department is None or room.department == self.department

    def sees_department(self, department: str) -> bool:
        return self.department is None or self.department == department
