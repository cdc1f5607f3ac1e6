"""Mutations of valid signalling messages, and the oracle that judges what the server did.

A *base* message is built for every client message type from its dataclass (a value of
the right shape for each field). A mutation, driven by a seeded ``random.Random``, then
drops, retypes, adds or nests fields, changes ``v``/``type``, or damages the JSON text.

The oracle (:func:`acceptance_allowed`) is derived from docs/signalling.md, not from the
codec: an accepted frame must be a JSON object with ``v`` the integer 1, a client type the
document lists, and only fields the document names in that type's row.
"""

from __future__ import annotations

import dataclasses
import json
import random
import re
import types
import typing
from pathlib import Path
from typing import Any, Union

import control.app  # noqa: F401  (registers every feature's message types)
from signalling.codec import _SERVER_ONLY, registered_types

DOC = (Path(__file__).resolve().parents[2] / "docs" / "signalling.md").read_text()
GOOD_CANDIDATE = "candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host generation 0"
SDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"

CLIENT_TYPES = sorted(t for t in registered_types() if t not in _SERVER_ONLY)
_JUNK: list[Any] = [
    None, True, False, 0, 1, -1, 16, 4097, 1.5, -0.0, 2**64, "", "x", "\u0000", "é" * 3, "x" * 2000,
    [], [1, "a"], {}, {"a": None}, GOOD_CANDIDATE, "v=0", "publish", "subscribe", "camera",
]


def documented_codes() -> set[str]:
    """Every error code in the error tables of docs/signalling.md."""
    codes: set[str] = set()
    for block in re.split(r"\n(?=\| code \|)", DOC)[1:]:
        table = block.split("\n\n", 1)[0]
        for line in table.splitlines()[2:]:
            codes |= set(re.findall(r"`([a-z_]+)`", line.strip("|").split("|")[0]))
    return codes


def documented_fields(type_name: str) -> str:
    """The table rows of ``type_name`` in docs/signalling.md (empty: not documented)."""
    rows = []
    for line in DOC.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if any(f"`{type_name}`" in re.findall(r"`[a-z_]+`", c) and re.fullmatch(r"`[a-z_]+`( / `[a-z_]+`)*", c) for c in cells[:2]):
                rows.append(line)
    return " ".join(rows)


def sample(tp: Any, name: str, rng: random.Random) -> Any:
    """A value of annotation ``tp`` (often valid, sometimes at an edge)."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        return None if rng.random() < 0.2 else sample(rng.choice(options), name, rng)
    if origin is typing.Literal:
        return rng.choice(typing.get_args(tp))
    if origin is list:
        (item,) = typing.get_args(tp)
        return [sample(item, name, rng) for _ in range(rng.randint(0, 2))]
    if origin is dict or tp is dict:
        return {}
    if dataclasses.is_dataclass(tp):
        return build(typing.cast(type, tp), rng)
    if tp is bool:
        return rng.random() < 0.5
    if tp is int:
        return rng.choice([16, 360, 720, 4096, 0])
    if tp is float:
        return rng.choice([0.0, 1.5, 1790000000.0])
    if name == "sdp":
        return SDP
    if name == "candidate":
        return rng.choice([GOOD_CANDIDATE, ""])
    if name in ("url",):
        return "https://example.org/x"
    return rng.choice(["x", "PA_x", "TR_x", "0", "hello"])


def build(cls: type, rng: random.Random) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if f.name == "id" and rng.random() < 0.5:
            continue
        if required or rng.random() < 0.6:
            out[f.name] = sample(hints[f.name], f.name, rng)
    return out


def base_message(type_name: str, rng: random.Random) -> dict[str, Any]:
    return {"v": 1, "type": type_name, **build(registered_types()[type_name], rng)}


def _mutate_value(value: Any, rng: random.Random, depth: int = 0) -> Any:
    if isinstance(value, dict) and value and depth < 3 and rng.random() < 0.5:
        key = rng.choice(list(value))
        return {**value, key: _mutate_value(value[key], rng, depth + 1)}
    if isinstance(value, list) and value and depth < 3 and rng.random() < 0.5:
        i = rng.randrange(len(value))
        return [*value[:i], _mutate_value(value[i], rng, depth + 1), *value[i + 1 :]]
    choice = rng.random()
    if choice < 0.1:
        nest = rng.choice([2, 31, 33, 200])
        return json.loads("[" * nest + "]" * nest) if nest < 100 else {"deep": "[" * nest}
    return rng.choice(_JUNK)


def mutate(msg: dict[str, Any], rng: random.Random, types_pool: list[str]) -> str:
    """Apply one to three mutations; returns the frame's text."""
    msg = dict(msg)
    raw: str | None = None
    for _ in range(rng.randint(1, 3)):
        op = rng.randrange(10)
        keys = list(msg)
        if op == 0 and keys:
            msg.pop(rng.choice(keys))
        elif op in (1, 2) and keys:
            key = rng.choice(keys)
            msg[key] = _mutate_value(msg[key], rng)
        elif op == 3:
            msg[rng.choice(["extra", "ID", "Type", "__proto__", "sdpmid"])] = rng.choice(_JUNK)
        elif op == 4:
            msg["v"] = rng.choice([True, 1.0, "1", 2, 0, None, [1]])
        elif op == 5:
            msg["type"] = rng.choice([*types_pool, "joined", "error", "x" * 100, "", 7])
        elif op == 6 and "candidate" in msg and isinstance(msg["candidate"], dict):
            msg["candidate"] = {**msg["candidate"], "candidate": _damage(GOOD_CANDIDATE, rng)}
        elif op == 7:
            raw = _damage(json.dumps(msg), rng)
        elif op == 8:
            nest = rng.choice([33, 1000, 50_000])
            raw = "[" * nest + json.dumps(msg) + "]" * nest
        else:
            raw = json.dumps(msg)[:-1] + ', "v": 1}' if rng.random() < 0.5 else json.dumps([msg])
    return raw if raw is not None else json.dumps(msg)


def _damage(text: str, rng: random.Random) -> str:
    i = rng.randrange(len(text) + 1)
    match rng.randrange(4):
        case 0:
            return text[:i]
        case 1:
            return text[:i] + rng.choice(['"', "{", "]", "\\", "\u0000", " ", "NaN", "1e999"]) + text[i:]
        case 2:
            return text[:i] + text[i + 1 :]
        case _:
            return text.replace(" ", rng.choice(["", "  ", " x "]), 1)


def acceptance_allowed(text: str) -> str | None:
    """Why accepting this frame would break docs/signalling.md (None: allowed)."""
    body = json.loads(text)
    if not isinstance(body, dict):
        return "not a JSON object"
    v = body.get("v")
    if type(v) is not int or v != 1:
        return f"'v' is {v!r}, not the integer 1"
    type_name = body.get("type")
    if type_name not in CLIENT_TYPES:
        return f"type {type_name!r} is not a client message"
    row = documented_fields(type_name)
    if not row:
        return f"type {type_name!r} is not in the document"
    for key in body:
        if key not in ("v", "type", "id") and not re.search(rf"\b{re.escape(key)}\b", row):
            return f"field {key!r} of {type_name!r} is not in the document"
    if body.get("id") is not None and not isinstance(body["id"], str):
        return "'id' is not a string"  # (optional fields may be null: the same as absent)
    return None
