"""Which files may be shared, recognised by their content (pure functions).

A file is accepted when its first bytes are those of an allowed kind *and* its name ends
with one of that kind's extensions; the download is then served with the kind's type, never
the uploader's ``Content-Type``. Kinds built on ZIP (office documents) are checked again
once the whole file is there (:func:`check_container`): an OOXML file must hold
``[Content_Types].xml`` and its main part, an OpenDocument file its ``mimetype`` entry
naming the right type. An executable renamed ``.pdf``, an HTML page renamed ``.txt``
(a ``<`` first is not refused, but the type served is ``text/plain`` with ``nosniff``),
a ZIP renamed ``.docx``: refused or harmless.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

#: Bytes the decision needs before the rest of the upload is read.
HEAD_BYTES = 4096


class Refused(Exception):
    """Not an allowed kind; the message says what the content is and what is allowed."""


@dataclass(frozen=True)
class FileKind:
    name: str
    content_type: str
    extensions: tuple[str, ...]
    matches: Callable[[bytes], bool]
    #: the ZIP entry that proves the kind, checked on the whole file
    container_part: str | None = None
    odf_mimetype: str | None = None


def _starts(*prefixes: bytes) -> Callable[[bytes], bool]:
    return lambda head: any(head.startswith(p) for p in prefixes)


def _webp(head: bytes) -> bool:
    return head[:4] == b"RIFF" and head[8:12] == b"WEBP"


def _heic(head: bytes) -> bool:
    return head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"mif1", b"heim", b"heis")


def _text(head: bytes) -> bool:
    """UTF-8 (or ASCII) without NUL or other binary control bytes."""
    if b"\x00" in head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:  # not just a character cut at the end of the head
            return False
        text = head[: exc.start].decode("utf-8")
    return not any(ord(c) < 32 and c not in "\t\n\r\f" for c in text)


_ZIP = _starts(b"PK\x03\x04")

KINDS: dict[str, FileKind] = {
    k.name: k
    for k in (
        FileKind("pdf", "application/pdf", (".pdf",), _starts(b"%PDF-")),
        FileKind("png", "image/png", (".png",), _starts(b"\x89PNG\r\n\x1a\n")),
        FileKind("jpeg", "image/jpeg", (".jpg", ".jpeg"), _starts(b"\xff\xd8\xff")),
        FileKind("gif", "image/gif", (".gif",), _starts(b"GIF87a", b"GIF89a")),
        FileKind("webp", "image/webp", (".webp",), _webp),
        FileKind("heic", "image/heic", (".heic", ".heif"), _heic),
        FileKind("txt", "text/plain; charset=utf-8", (".txt", ".csv"), _text),
        FileKind("docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", (".docx",), _ZIP, container_part="word/document.xml"),
        FileKind("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", (".xlsx",), _ZIP, container_part="xl/workbook.xml"),
        FileKind("pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation", (".pptx",), _ZIP, container_part="ppt/presentation.xml"),
        FileKind("odt", "application/vnd.oasis.opendocument.text", (".odt",), _ZIP, odf_mimetype="application/vnd.oasis.opendocument.text"),
        FileKind("ods", "application/vnd.oasis.opendocument.spreadsheet", (".ods",), _ZIP, odf_mimetype="application/vnd.oasis.opendocument.spreadsheet"),
    )
}
DEFAULT_ALLOWED = tuple(KINDS)


def _describe(head: bytes) -> str:
    """What the content looks like, for the refusal message."""
    for name, kind in KINDS.items():
        if kind.matches(head) and kind.matches is not _ZIP:
            return f"a {name.upper()} file"
    if _ZIP(head):
        return "a ZIP archive"
    if head.startswith(b"MZ"):
        return "a Windows program"
    if head.startswith(b"\x7fELF"):
        return "a Linux program"
    if not head:
        return "empty"
    return "of an unknown kind"


def classify(head: bytes, name: str, allowed: tuple[str, ...]) -> FileKind:
    """The kind of a file from its first bytes and its name; :class:`Refused` otherwise."""
    lower = name.lower()
    for kind_name in allowed:
        kind = KINDS[kind_name]
        if kind.matches(head) and lower.endswith(kind.extensions):
            return kind
    wanted = ", ".join(ext for k in allowed for ext in KINDS[k].extensions)
    what = _describe(head)
    named = next((k for k in allowed if lower.endswith(KINDS[k].extensions)), None)
    if named is not None and what != f"a {named.upper()} file":
        raise Refused(f"the name says {named.upper()} but the content is {what}; files that can be shared: {wanted}")
    raise Refused(f"the content is {what}, named {name!r}; files that can be shared: {wanted}")


def check_container(kind: FileKind, whole: BinaryIO) -> None:
    """ZIP-based kinds: the archive's directory must prove the kind (blocking: run in a thread)."""
    if kind.container_part is None and kind.odf_mimetype is None:
        return
    try:
        with zipfile.ZipFile(whole) as archive:
            names = set(archive.namelist())
            if kind.container_part is not None:
                if "[Content_Types].xml" not in names or kind.container_part not in names:
                    raise Refused(f"this ZIP archive is not a {kind.name.upper()} document (no {kind.container_part})")
            elif kind.odf_mimetype is not None:
                if "mimetype" not in names or archive.getinfo("mimetype").file_size > 200:
                    raise Refused(f"this ZIP archive is not an {kind.name.upper()} document (no mimetype entry)")
                if archive.read("mimetype").decode("ascii", "replace").strip() != kind.odf_mimetype:
                    raise Refused(f"this archive is not an {kind.name.upper()} document (its mimetype says otherwise)")
    except (zipfile.BadZipFile, zipfile.LargeZipFile, KeyError, EOFError, ValueError) as exc:
        raise Refused(f"this {kind.name.upper()} file is damaged: {exc}") from None
