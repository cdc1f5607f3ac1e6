"""docs/configuration.md lists every setting of every section, and its example loads."""

from __future__ import annotations

import dataclasses
import re
import typing
from pathlib import Path

from control.config import ALIASES, SECTIONS, load

DOC = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()


def _keys(cls: type, skip: frozenset[str] = frozenset()) -> list[str]:
    hints = typing.get_type_hints(cls)
    out: list[str] = []
    for field in dataclasses.fields(cls):
        if field.name in skip:
            continue
        tp = hints[field.name]
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            out += _keys(tp)  # flattened or nested table (captions, captions.vad): its keys
        else:
            out.append(field.name)
    return out


def test_every_setting_is_documented() -> None:
    tables = {name: DOC.split(f"## `[{name}]`", 1)[-1].split("\n## ", 1)[0] for name in (s.name for s in SECTIONS)}
    missing = [
        f"{section.name}.{key}"
        for section in SECTIONS
        for key in _keys(section.cls, section.elsewhere)
        if f"## `[{section.name}]`" not in DOC or f"`{key}`" not in tables[section.name]
    ]
    assert not missing, f"settings missing from docs/configuration.md: {missing}"
    assert not [alias for alias in ALIASES if alias not in DOC]


def test_the_documented_example_loads(tmp_path: Path) -> None:
    example = re.search(r"## Example\n\n```toml\n(.*?)```", DOC, re.S)
    assert example is not None
    path = tmp_path / "example.toml"
    path.write_text(example.group(1))
    config = load(str(path), env={})
    assert config.store.backend == "redis" and config.sfu.ice.port_max == 40999
