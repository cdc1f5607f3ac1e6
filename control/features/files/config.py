"""The ``[files]`` section (docs/configuration.md), read by the one settings loader.

- ``max_file_bytes`` (default 25 MiB) and ``max_room_bytes`` (200 MiB, every file of a room
  together, uploads in flight included); ``max_files_per_room`` (100);
- ``kinds``: the kinds that may be shared (control/features/files/kinds.py: pdf, png, jpeg,
  gif, webp, heic, txt, docx, xlsx, pptx, odt, ods), recognised by content;
- ``memory_bytes``: a file up to this size stays in memory; a bigger one goes to an
  unlinked temporary file (O_TMPFILE: it never has a name) in ``temp_dir`` (default: the
  system's temporary folder, ``$TMPDIR`` or /tmp);
- ``link_ttl_s``: how long a download link works (default 60 s; the page asks for a
  new one at every click).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from control.features.files.kinds import DEFAULT_ALLOWED, KINDS
from control.settings import Section

MIB = 1024 * 1024


@dataclass(frozen=True)
class FilesConfig:
    max_file_bytes: int = 25 * MIB
    max_room_bytes: int = 200 * MIB
    max_files_per_room: int = 100
    kinds: tuple[str, ...] = DEFAULT_ALLOWED
    memory_bytes: int = 1 * MIB
    temp_dir: Path | None = None
    link_ttl_s: float = 60.0

    def __post_init__(self) -> None:
        if not 1 <= self.max_file_bytes <= 4096 * MIB:
            raise ValueError(f"max_file_bytes must be 1 to 4294967296, got {self.max_file_bytes!r}")
        if not self.max_file_bytes <= self.max_room_bytes <= 64 * 1024 * MIB:
            raise ValueError(f"max_room_bytes must be at least max_file_bytes and at most 68719476736, got {self.max_room_bytes!r}")
        if not 1 <= self.max_files_per_room <= 10_000:
            raise ValueError(f"max_files_per_room must be 1 to 10000, got {self.max_files_per_room!r}")
        unknown = [k for k in self.kinds if k not in KINDS]
        if unknown or not self.kinds:
            raise ValueError(f"kinds must name some of {', '.join(KINDS)}, got {', '.join(self.kinds) or 'none'}")
        if not 0 <= self.memory_bytes <= 64 * MIB:
            raise ValueError(f"memory_bytes must be 0 to 67108864, got {self.memory_bytes!r}")
        if not 5 <= self.link_ttl_s <= 3600:
            raise ValueError(f"link_ttl_s must be 5 to 3600 seconds, got {self.link_ttl_s!r}")

    @property
    def temp_folder(self) -> Path:
        return self.temp_dir if self.temp_dir is not None else Path(tempfile.gettempdir())


SECTION = Section("files", FilesConfig)
