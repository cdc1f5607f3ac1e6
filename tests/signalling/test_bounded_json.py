"""The nesting limit of every untrusted JSON document (signalling/bounded_json.py)."""

from __future__ import annotations

import time

import pytest

from signalling.bounded_json import MAX_JSON_DEPTH, TooDeep, loads_bounded, nesting_depth


def test_depth_limit_and_what_passes() -> None:
    ok = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    assert nesting_depth(loads_bounded(ok)) == MAX_JSON_DEPTH
    assert loads_bounded('{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}') == {"a": "[" * 42}  # inside a string
    for depth in (MAX_JSON_DEPTH + 1, 900, 50_000):
        with pytest.raises(TooDeep):
            loads_bounded("[" * depth + "]" * depth)
    for text in ("NaN", "[Infinity]", '{"a": -Infinity}', "1e999"):
        with pytest.raises(ValueError):
            loads_bounded(text)


@pytest.mark.parametrize(
    "text",
    [
        '"' + '\\"' * 120_000 + "[" * 40,  # unterminated string of escaped quotes: quadratic for a regex scan
        '"\\' * 80_000 + "[" * 40,
        "[" * 130_000 + "]" * 130_000,
        "[" + ",".join(["[1]"] * 60_000) + "]",
    ],
)
def test_hostile_documents_are_judged_in_linear_time(text: str) -> None:
    started = time.perf_counter()
    try:
        loads_bounded(text)
    except ValueError:
        pass
    assert time.perf_counter() - started < 1.0  # measured: under 0.1 s each
