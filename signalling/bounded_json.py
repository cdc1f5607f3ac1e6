"""JSON parsing with a nesting-depth limit.

``json.loads`` recurses once per nesting level: a small frame of 50,000 ``[`` makes it
raise ``RecursionError`` (the C parser checks the interpreter's recursion limit), which
callers did not expect. Both the signalling codec and the REST API parse untrusted JSON
through :func:`loads_bounded`, which refuses a document nested deeper than ``max_depth``
with :class:`TooDeep`: the parser stops at the interpreter's limit (about 1,000 levels,
``RecursionError`` caught here), and a document it could parse is measured (an iterative
walk, no recursion) before anyone uses it. No legitimate message of ours is nested more
than a few levels. ``NaN``, ``Infinity`` and numbers beyond the float range are refused too.

Why not scan the text for brackets first: skipping string contents needs a string-aware
scanner, and the regular-expression one is quadratic on unterminated strings full of
escaped quotes (a 240 KB frame took minutes); the parser itself is linear.
"""

from __future__ import annotations

import json
import math
from typing import Any

MAX_JSON_DEPTH = 32


class TooDeep(ValueError):
    """The document nests arrays/objects deeper than allowed."""

    def __init__(self, depth: int | None, limit: int) -> None:
        deep = f"{depth} levels" if depth is not None else "hundreds of levels"
        super().__init__(f"JSON nested {deep} deep; the limit is {limit}")
        self.depth = depth
        self.limit = limit


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 parses as infinity
        raise ValueError(f"number {text[:32]} is out of range")
    return value


def nesting_depth(value: Any) -> int:
    """The deepest array/object nesting of a parsed value (0 for a scalar), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth + 1)
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return deepest


def loads_bounded(text: str | bytes, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads`` that raises :class:`TooDeep` for documents nested deeper than ``max_depth``.

    Raises ``ValueError`` (``json.JSONDecodeError``, ``UnicodeDecodeError``, ``TooDeep``)
    for anything that is not an acceptable JSON document.
    """
    if isinstance(text, bytes | bytearray):
        text = bytes(text).decode("utf-8")
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:
        raise TooDeep(None, max_depth) from None
    # fewer opening brackets than the limit cannot nest deeper: skip the walk (the common case)
    if text.count("[") + text.count("{") > max_depth:
        depth = nesting_depth(value)
        if depth > max_depth:
            raise TooDeep(depth, max_depth)
    return value
