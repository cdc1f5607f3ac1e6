"""The bytes of one shared file: in memory, or in a temporary file that has no name.

A :class:`Blob` starts in memory; past ``memory_bytes`` it moves to a file opened with
``O_TMPFILE`` in the temporary folder — a file that never appears in any directory and
disappears when its last descriptor closes (on file systems without ``O_TMPFILE``: created
and unlinked at once). So a crash, a kill or a closed blob leaves nothing on disk, and
nothing but this process can open it. File writes and reads run in worker threads (never on
the event loop). :meth:`Blob.close` is idempotent; a download holds its own descriptor
(``os.dup``) and stops at its next chunk when the blob was closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO

READ_CHUNK = 256 * 1024


class BlobClosed(Exception):
    """The file was forgotten (the consultation ended) while it was being read or written."""


def open_unlinked(folder: Path) -> int:
    """A read-write descriptor of a new file without a name in ``folder``."""
    try:
        return os.open(folder, os.O_TMPFILE | os.O_RDWR | os.O_CLOEXEC, 0o600)
    except (AttributeError, OSError):
        fd, path = tempfile.mkstemp(dir=folder, prefix=".consult-file-")
        os.unlink(path)
        return fd


def _write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class Blob:
    def __init__(self, folder: Path, memory_bytes: int) -> None:
        self._folder = folder
        self._memory_bytes = memory_bytes
        self._memory: bytearray | bytes | None = bytearray()
        self._fd: int | None = None
        self.size = 0
        self.closed = False

    @property
    def on_disk(self) -> bool:
        return self._fd is not None

    async def write(self, chunk: bytes) -> None:
        if self.closed:
            raise BlobClosed
        if self._fd is None and self.size + len(chunk) <= self._memory_bytes:
            assert isinstance(self._memory, bytearray)
            self._memory += chunk
        else:
            if self._fd is None:
                fd = await asyncio.to_thread(open_unlinked, self._folder)
                if self.closed:  # forgotten meanwhile
                    os.close(fd)
                    raise BlobClosed
                self._fd = fd
                pending, self._memory = self._memory or b"", None
                await asyncio.to_thread(_write_all, fd, pending)
            await asyncio.to_thread(_write_all, self._descriptor(), chunk)
        self.size += len(chunk)

    def finish(self) -> None:
        """No more writes: the in-memory bytes become immutable (downloads share them)."""
        if isinstance(self._memory, bytearray):
            self._memory = bytes(self._memory)

    def _descriptor(self) -> int:
        if self.closed or self._fd is None:
            raise BlobClosed
        return self._fd

    def open_whole(self) -> BinaryIO:
        """A seekable reader of the whole file (for the container check; blocking reads)."""
        if self._fd is None:
            return io.BytesIO(bytes(self._memory or b""))
        return os.fdopen(os.dup(self._descriptor()), "rb")

    async def chunks(self) -> AsyncIterator[bytes]:
        """The file's bytes in chunks; raises :class:`BlobClosed` if it is forgotten meanwhile."""
        if self._fd is None:
            data = self._memory if isinstance(self._memory, bytes) else bytes(self._memory or b"")
            for start in range(0, len(data), READ_CHUNK):
                if self.closed:
                    raise BlobClosed
                yield data[start : start + READ_CHUNK]
            return
        fd = os.dup(self._descriptor())
        try:
            offset = 0
            while offset < self.size:
                if self.closed:
                    raise BlobClosed
                chunk = await asyncio.to_thread(os.pread, fd, min(READ_CHUNK, self.size - offset), offset)
                if not chunk:
                    raise BlobClosed
                offset += len(chunk)
                yield chunk
        finally:
            os.close(fd)

    def close(self) -> None:
        """Forget the bytes now (memory freed, the nameless file gone with its last descriptor)."""
        self.closed = True
        self._memory = None
        if self._fd is not None:
            fd, self._fd = self._fd, None
            with contextlib.suppress(OSError):
                os.close(fd)
