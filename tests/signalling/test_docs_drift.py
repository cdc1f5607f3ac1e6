"""The protocol and API documents against the code (issue 13, "Documentation drift").

* Every message type registered with the codec (core and feature modules), and every field
  of it, appears in docs/signalling.md in the table row of that type; fields of nested parts
  (``ProducerInfo``, ``AnnouncementInfo``...) appear in a row of a type that carries them.
* Every message a client receives right after ``joined`` is listed under "After `joined`".
* Every error code listed in docs/api.md and docs/signalling.md is one the code can produce.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import typing
from pathlib import Path

import pytest

import control.app  # noqa: F401  (imports every feature's message module)
from signalling.codec import registered_types
from tests.support.peer import TestPeer
from tests.support.server import RunningServer

ROOT = Path(__file__).resolve().parents[2]
SIGNALLING = (ROOT / "docs" / "signalling.md").read_text()
API = (ROOT / "docs" / "api.md").read_text()


TYPE_CELL = re.compile(r"`[a-z_]+`((, | / )`[a-z_]+`)*")


def message_rows() -> list[tuple[str, list[str]]]:
    """(row, types named in its type cell) of every table whose header has a 'type' column."""
    out: list[tuple[str, list[str]]] = []
    column: int | None = None
    for line in SIGNALLING.splitlines():
        if not line.startswith("|"):
            column = None
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if column is None:
            column = cells.index("type") if "type" in cells else -1
            continue
        if column < 0 or column >= len(cells) or set(cells[0]) <= set("-: "):
            continue
        if TYPE_CELL.fullmatch(cells[column]):
            out.append((line, re.findall(r"`([a-z_]+)`", cells[column])))
    return out


def rows_of(type_name: str) -> list[str]:
    """Table rows whose type cell names ``type_name`` (`` `a` / `b` `` cells count for both)."""
    return [row for row, types in message_rows() if type_name in types]


def parts(tp: typing.Any) -> list[type]:
    """The nested message-part dataclasses inside an annotation."""
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return [tp]
    return [p for arg in typing.get_args(tp) for p in parts(arg)]


def test_every_message_type_and_field_is_documented() -> None:
    missing: list[str] = []
    carriers: dict[type, list[str]] = {}
    for type_name, cls in sorted(registered_types().items()):
        rows = rows_of(type_name)
        if not rows:
            missing.append(f"type {type_name}")
            continue
        text = " ".join(rows)
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if f.name == "id":
                continue
            if not re.search(rf"\b{f.name}\b", text):
                missing.append(f"{type_name}.{f.name}")
            pending = parts(hints[f.name])
            while pending:  # parts inside parts (chat_history -> ChatEntry -> FileInfo) too
                part = pending.pop()
                carriers.setdefault(part, []).append(text)
                part_hints = typing.get_type_hints(part)
                pending += [p for g in dataclasses.fields(part) for p in parts(part_hints[g.name]) if p is not part]
    for part, texts in carriers.items():
        for f in dataclasses.fields(part):
            if not any(re.search(rf"\b{f.name}\b", t) for t in texts):
                missing.append(f"{part.__name__}.{f.name}")
    assert not missing, f"not in docs/signalling.md: {missing}"


def test_documented_types_exist() -> None:
    documented = {t for _, types in message_rows() for t in types}
    assert len(documented) > 40, "the message tables were not found"
    assert not documented - set(registered_types()), "documented message types that do not exist"


def error_codes(doc: str) -> list[str]:
    """Codes in the error tables: rows under a header whose first or second cell is 'code'/'codes'."""
    out: list[str] = []
    in_table = False
    for line in doc.splitlines():
        if not line.startswith("|"):
            in_table = False
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells[0] in ("code", "codes") or (len(cells) > 1 and cells[1] in ("code", "codes")):
            in_table = True
            continue
        if in_table and not set(cells[0]) <= set("-: "):
            head = cells[1] if cells[0].isdigit() and len(cells) > 1 else cells[0]
            out += re.findall(r"`([a-z_]+)`", head)
    return out


def source_text() -> str:
    files = [*ROOT.glob("control/**/*.py"), *ROOT.glob("signalling/*.py"), *ROOT.glob("sfu/**/*.py")]
    return "\n".join(p.read_text() for p in files)


@pytest.mark.parametrize("doc_name", ["api.md", "signalling.md"])
def test_every_documented_error_code_exists(doc_name: str) -> None:
    doc = API if doc_name == "api.md" else SIGNALLING
    codes = error_codes(doc)
    assert len(codes) > 10, "the error tables were not found"
    source = source_text()
    ghosts = [c for c in codes if f'"{c}"' not in source and f"'{c}'" not in source]
    assert not ghosts, f"docs/{doc_name} lists error codes the code never produces: {ghosts}"


async def test_what_arrives_after_joined_is_listed(server: RunningServer) -> None:
    section = SIGNALLING.split("### After `joined`", 1)[1].split("\n#", 1)[0]
    peer = TestPeer(server.ws_url, server.token("drift", "alice"), "alice")
    try:
        await peer.connect()
        await peer.request({"type": "ping"}, expect=("pong",))
        await asyncio.sleep(1.0)  # features push their state right after joined
        received = {m["type"] for m in peer.messages} - {"joined", "pong"}
        assert received, "nothing arrived after joined: the check would be empty"
        unlisted = sorted(t for t in received if f"`{t}`" not in section)
        assert not unlisted, f"sent after joined but not listed under 'After joined': {unlisted}"
    finally:
        await peer.close()


def test_the_default_data_folder_is_stated_the_same_everywhere() -> None:
    """control/data_dir.py decides; every document that states the default says the same."""
    from control.data_dir import default_data_dir

    assert default_data_dir({"XDG_DATA_HOME": "/x", "HOME": "/h"}) == Path("/x/consult-sfu")
    assert default_data_dir({"HOME": "/h"}) == Path("/h/.local/share/consult-sfu")
    for name in ("README.md", "docs/configuration.md", "docs/api.md"):
        text = (ROOT / name).read_text()
        assert "$XDG_DATA_HOME/consult-sfu" in text, name
        stated = re.findall(r"data[ _]dir[^.]{0,80}?default[^.]{0,40}?`([^`]+)`", text, flags=re.IGNORECASE)
        assert all(s.startswith("$XDG_DATA_HOME/consult-sfu") for s in stated), (name, stated)
