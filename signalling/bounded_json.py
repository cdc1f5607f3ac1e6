"""JSON parsing with a nesting-depth limit, checked before the parser recurses.

``json.loads`` recurses once per nesting level: a small frame of 50,000 ``[`` raises
``RecursionError`` deep inside the parser (or worse, exhausts the C stack). Both the
signalling codec and the REST API parse untrusted JSON through :func:`loads_bounded`,
which refuses a document nested deeper than ``max_depth`` with :class:`TooDeep` before
parsing it. No legitimate message of ours is nested more than a few levels.

The check is linear in the text: strings are blanked out (brackets inside them do not
count), then the running depth of the remaining brackets is computed. Texts with fewer
opening brackets than the limit cannot exceed it and skip the scan (the common case).
"""

from __future__ import annotations

import itertools
import json
import math
import re
from typing import Any

MAX_JSON_DEPTH = 32

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


class TooDeep(ValueError):
    """The document nests arrays/objects deeper than allowed."""

    def __init__(self, depth: int, limit: int) -> None:
        super().__init__(f"JSON nested {depth} levels deep; the limit is {limit}")
        self.depth = depth
        self.limit = limit


def nesting_depth(text: str) -> int:
    """The deepest array/object nesting of ``text`` (brackets inside strings ignored)."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    if not brackets:
        return 0
    return max(0, max(itertools.accumulate(_STEP[c] for c in brackets)))


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 parses as infinity
        raise ValueError(f"number {text[:32]} is out of range")
    return value


def loads_bounded(text: str | bytes, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads`` that raises :class:`TooDeep` instead of recursing past ``max_depth``.

    Raises ``ValueError`` (``json.JSONDecodeError``, ``UnicodeDecodeError``, ``TooDeep``)
    for anything that is not an acceptable JSON document.
    """
    if isinstance(text, bytes | bytearray):
        text = bytes(text).decode("utf-8")
    if text.count("[") + text.count("{") > max_depth:
        depth = nesting_depth(text)
        if depth > max_depth:
            raise TooDeep(depth, max_depth)
    try:
        return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:  # cannot happen after the scan; kept as a last line of defence
        raise TooDeep(max_depth + 1, max_depth) from None
