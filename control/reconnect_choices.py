"""Kept choices in the control plane's store, for a re-join served by another worker or node.

A participant's subscription caps, background effect and captions choice
(signalling.resume.KeptChoices) are written here each time they change, under
``choices:<room>:<identity>``; a join of that identity in a process that has no parked
session of theirs (the room moved after a node loss or a drain, or the room was placed
again after everyone dropped) reads them back. They are deleted when the participant
leaves for good (compare-and-delete: only what that session wrote, so a session that took
over elsewhere keeps its own), when the consultation ends (recordings_off holder
``reconnect_choices``), and expire by themselves after :data:`CHOICES_TTL_S` otherwise.
One record per identity and room, a few hundred bytes: no content of the consultation.
"""

from __future__ import annotations

from control.store import Store

#: A record nobody deleted (a room whose consultation never ended) expires after this.
CHOICES_TTL_S = 12 * 3600.0


class StoreChoices:
    """signalling.resume.ChoicesStore on the control plane's store (memory or Redis)."""

    def __init__(self, store: Store, ttl_s: float = CHOICES_TTL_S) -> None:
        self._store = store
        self._ttl_s = ttl_s

    @staticmethod
    def _key(room: str, identity: str) -> str:
        return f"choices:{room}:{identity}"

    @staticmethod
    def _index(room: str) -> str:
        return f"choices-of:{room}"

    async def save(self, room: str, identity: str, data: bytes) -> None:
        await self._store.set_raw(self._key(room, identity), data, ttl_s=self._ttl_s)
        await self._store.index_add(self._index(room), identity)

    async def load(self, room: str, identity: str) -> bytes | None:
        return await self._store.get_raw(self._key(room, identity))

    async def drop(self, room: str, identity: str, expected: bytes) -> None:
        if await self._store.delete_raw_if(self._key(room, identity), expected):
            await self._store.index_remove(self._index(room), identity)

    async def forget(self, room: str) -> None:
        """The consultation is over: every participant's choices go."""
        for identity in await self._store.index_members(self._index(room)):
            await self._store.delete_raw(self._key(room, identity))
            await self._store.index_remove(self._index(room), identity)
