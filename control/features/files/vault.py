"""The shared files of every room this process holds (the room's owner), and uploads in flight.

An upload reserves its bytes against the room's total as they arrive
(:meth:`FileVault.begin` / :meth:`Upload.grow`), so two parallel uploads cannot pass the
limit together; :meth:`Upload.commit` turns it into a :class:`HeldFile`; anything else
(:meth:`Upload.abort`: a refusal, an interrupted upload) closes its bytes and releases the
reservation — an interrupted upload leaves nothing behind. :meth:`FileVault.forget` (the
room's media closed or the consultation ended) and :meth:`FileVault.close` (the server
stops) close every file and cancel every upload of the room(s) at once.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from control.features.files.config import FilesConfig
from control.features.files.kinds import FileKind
from control.features.files.storage import Blob


class VaultRefusal(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass
class HeldFile:
    file_id: str
    room: str
    name: str
    kind: FileKind
    blob: Blob
    sender: dict[str, str]
    at: float

    @property
    def size(self) -> int:
        return self.blob.size

    def info(self) -> dict[str, object]:
        return {"file_id": self.file_id, "name": self.name, "size": self.size, "content_type": self.kind.content_type}


@dataclass
class Upload:
    vault: FileVault
    room: str
    blob: Blob
    reserved: int = 0
    done: bool = False

    def grow(self, size: int) -> None:
        """Reserve the bytes received so far; refused past the file or the room limit."""
        config = self.vault.config
        if size > config.max_file_bytes:
            raise VaultRefusal(413, "too_large", f"the file is larger than {config.max_file_bytes} bytes, the most that can be shared")
        if self.blob.closed:
            raise VaultRefusal(409, "room_ended", "the consultation ended during the upload")
        extra = size - self.reserved
        if extra > 0:
            if self.vault.room_bytes(self.room) + extra > config.max_room_bytes:
                raise VaultRefusal(413, "room_full", f"this consultation's files would pass {config.max_room_bytes} bytes, the most it holds")
            self.reserved = size
            self.vault._reserved[self.room] = self.vault._reserved.get(self.room, 0) + extra

    def commit(self, *, name: str, kind: FileKind, sender: dict[str, str], at: float) -> HeldFile:
        if self.blob.closed or self.done:
            raise VaultRefusal(409, "room_ended", "the consultation ended during the upload")
        self.blob.finish()
        held = HeldFile("FL_" + secrets.token_urlsafe(12), self.room, name, kind, self.blob, sender, at)
        self._release()
        self.vault._files.setdefault(self.room, {})[held.file_id] = held
        self.vault.shared += 1
        return held

    def abort(self) -> None:
        if not self.done:
            self.blob.close()
            self._release()

    def _release(self) -> None:
        self.done = True
        vault = self.vault
        left = vault._reserved.get(self.room, 0) - self.reserved
        if left > 0:
            vault._reserved[self.room] = left
        else:
            vault._reserved.pop(self.room, None)
        vault._in_flight.pop(id(self), None)


@dataclass
class FileVault:
    config: FilesConfig
    _files: dict[str, dict[str, HeldFile]] = field(default_factory=dict)
    _reserved: dict[str, int] = field(default_factory=dict)
    _in_flight: dict[int, Upload] = field(default_factory=dict)
    shared: int = 0

    def begin(self, room: str, declared_size: int | None) -> Upload:
        config = self.config
        if declared_size is not None and declared_size > config.max_file_bytes:
            raise VaultRefusal(413, "too_large", f"the file is {declared_size} bytes; at most {config.max_file_bytes} can be shared")
        uploading = sum(1 for u in self._in_flight.values() if u.room == room)
        if len(self._files.get(room, {})) + uploading >= config.max_files_per_room:
            raise VaultRefusal(409, "too_many_files", f"this consultation holds {config.max_files_per_room} files, the most it can")
        upload = Upload(self, room, Blob(config.temp_folder, config.memory_bytes))
        self._in_flight[id(upload)] = upload
        if declared_size:
            try:
                upload.grow(declared_size)
            except VaultRefusal:
                upload.abort()
                raise
        return upload

    def get(self, room: str, file_id: str) -> HeldFile | None:
        held = self._files.get(room, {}).get(file_id)
        return None if held is None or held.blob.closed else held

    def has(self, room: str, file_id: str) -> bool:
        return self.get(room, file_id) is not None

    def discard(self, held: HeldFile) -> None:
        """Drop one file (its notice could not be sent: nobody knows it exists)."""
        self._files.get(held.room, {}).pop(held.file_id, None)
        if not self._files.get(held.room):
            self._files.pop(held.room, None)
        held.blob.close()

    def room_bytes(self, room: str) -> int:
        return sum(f.size for f in self._files.get(room, {}).values()) + self._reserved.get(room, 0)

    def forget(self, room: str) -> None:
        """Every file of the room is gone now; uploads in flight fail at their next chunk."""
        for held in self._files.pop(room, {}).values():
            held.blob.close()
        for upload in [u for u in self._in_flight.values() if u.room == room]:
            upload.abort()

    def close(self) -> None:
        for room in {*self._files, *(u.room for u in self._in_flight.values())}:
            self.forget(room)

    def held_bytes(self) -> int:
        """Bytes of files held, and of uploads in flight (the recordings_off gauge)."""
        return sum(f.size for files in self._files.values() for f in files.values()) + sum(
            u.blob.size for u in self._in_flight.values()
        )

    def counts(self) -> tuple[int, int]:
        """(files held, uploads in flight)."""
        return sum(len(f) for f in self._files.values()), len(self._in_flight)
