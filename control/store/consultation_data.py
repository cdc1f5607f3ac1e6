"""Consultation data the store shares between processes: typed, registered, taken at the end.

Most of what a consultation produces stays in the memory of the process that serves it
(recordings_off's registry forgets it). What several processes must see — the chat
transcript: a client waiting on one process, staff on another, a participant reconnecting
— lives in the store, and only through a :class:`ConsultationRecords` of a *registered
kind*: key ``consultation:<kind>:<room>``, an append-only list of msgpack maps that

* is bounded (``max_items``: an append beyond it is refused, nothing is dropped silently),
* expires by itself at the time the feature gives (a backstop for a consultation nobody
  ends: no such list outlives it by more than that),
* is *taken* at the end: read and deleted in one atomic step, so exactly one process gets
  it (the one that hands it over, if the organisation wants that) and nothing stays.

:func:`registered_kinds` lists every kind in use, so the end-of-consultation audit
(tests/support/leaks.py) checks each one for the ended room besides scanning the whole
store for consultation content.
"""

from __future__ import annotations

from typing import Any

from control.store.base import Store, StoreError, pack, unpack

_KINDS: set[str] = set()


def registered_kinds() -> frozenset[str]:
    """Every kind of consultation record a feature created (the audit enumerates them)."""
    return frozenset(_KINDS)


def records_key(kind: str, room: str) -> str:
    """The store key (before the backend's prefix) of a room's records of ``kind``."""
    return f"consultation:{kind}:{room}"


class ConsultationRecords:
    """One kind of per-room records in the store (e.g. ``chat``)."""

    def __init__(self, store: Store, kind: str, *, max_items: int) -> None:
        if not kind.isidentifier():
            raise ValueError(f"a consultation record kind is a plain name, got {kind!r}")
        if max_items < 1:
            raise ValueError(f"max_items must be at least 1, got {max_items}")
        _KINDS.add(kind)
        self.store = store
        self.kind = kind
        self.max_items = max_items

    async def append(self, room: str, record: dict[str, Any], *, expires_at: float) -> int | None:
        """Add a record; the new count, or None when the room holds ``max_items`` already."""
        return await self.store._records_append(records_key(self.kind, room), pack(record), self.max_items, expires_at)

    async def read(self, room: str) -> list[dict[str, Any]]:
        return [_record(raw) for raw in await self.store._records_read(records_key(self.kind, room))]

    async def take(self, room: str) -> list[dict[str, Any]]:
        """Every record of the room, deleted from the store in the same atomic step."""
        return [_record(raw) for raw in await self.store._records_take(records_key(self.kind, room))]


def _record(raw: bytes) -> dict[str, Any]:
    try:
        return unpack(raw)
    except (ValueError, TypeError) as exc:  # msgpack's errors are ValueErrors
        raise StoreError(f"a consultation record cannot be read: {exc}") from None
