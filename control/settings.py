"""The one settings converter: TOML values and environment text -> frozen dataclasses.

Every section of the configuration (``[server]``, ``[sfu]``, ``[effects]``, ``[captions]``
...) is converted here, by the type hints of the dataclass that owns it, so every bad value
gets the same kind of one-line message naming the setting and the rule (``server.port must
be an integer, got 'eighty' (from CONSULT_SFU_SERVER_PORT)``). The sections' dataclasses stay
plain frozen dataclasses in the packages that own them (``sfu.config``, ``effects.config``,
``captions.config``, the features' own): their range checks run in their constructors and
whatever they raise (``ValueError`` or the section's declared errors) becomes the same kind
of message.

Why our own converter and not pydantic (``TypeAdapter`` over the dataclasses): the types in
use are few (bool, int, float, str, Path, ``X | None``, ``Literal``, tuples of those or of
dataclasses, nested dataclasses); the messages and the boolean spellings must be ours, in
one line; and importing pydantic costs ~19 MB of RSS and ~0.5 s at start (measured:
``python -c "import pydantic; ..."`` vs ``-c 1``), against the idle-memory target of issue
17 and for every CLI command.

Values: a file value has its TOML type; an environment value is text (:class:`EnvText`).
Booleans: TOML ``true``/``false``, or the text ``true``/``false``, ``yes``/``no``,
``on``/``off``, ``1``/``0`` (any case); nothing else. Lists: TOML arrays, or comma-separated
text. Lists of tables (``ice.servers``): TOML arrays of inline tables, or JSON text.
Nested tables (``captions.vad``): a ``[captions.vad]`` table, or keys ``vad_<key>`` in the
section (``CONSULT_SFU_CAPTIONS_VAD_<KEY>`` in the environment).
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

TRUE_WORDS = ("true", "yes", "on", "1")
FALSE_WORDS = ("false", "no", "off", "0")


class ConfigError(Exception):
    """A setting that cannot be used; the message (one line) names it and the rule."""


@dataclass(frozen=True)
class EnvText:
    """A value from the environment: text to convert by the field's type."""

    text: str
    variable: str


@dataclass(frozen=True)
class Section:
    """One ``[name]`` of the configuration, converted into ``cls``.

    ``flatten``: a nested dataclass field whose own fields are keys of this section too
    (``[captions]`` holds the captions package's settings and the feature's).
    ``elsewhere``: fields filled by another section (``[sfu]``'s ``ice`` is ``[ice]``).
    ``errors``: what ``cls`` raises for a bad value besides ``ValueError``.
    """

    name: str
    cls: type[Any]
    flatten: str | None = None
    elsewhere: frozenset[str] = frozenset()
    errors: tuple[type[Exception], ...] = ()

    def build(self, values: Mapping[str, Any]) -> Any:
        if self.flatten is None:
            return _dataclass(self.name, self.cls, values, self.elsewhere, self.errors)
        inner_cls = typing.get_type_hints(self.cls)[self.flatten]
        own = {f.name for f in dataclasses.fields(self.cls)} - {self.flatten}
        outer = {k: v for k, v in values.items() if k in own}
        inner = {k: v for k, v in values.items() if k not in own}
        known = own | {f.name for f in dataclasses.fields(inner_cls)}
        try:
            nested = _dataclass(self.name, inner_cls, inner, frozenset(), self.errors)
        except _Unknown as exc:
            if exc.name.count(".") != 1:  # deeper (captions.vad.x): its own table's keys
                raise
            raise ConfigError(_unknown(exc.name, known)) from None
        return _dataclass(self.name, self.cls, {**outer, self.flatten: nested}, self.elsewhere, self.errors)


class _Unknown(ConfigError):
    def __init__(self, name: str, known: set[str]) -> None:
        super().__init__(_unknown(name, known))
        self.name = name


def _unknown(name: str, known: set[str]) -> str:
    return f"unknown setting {name} (known: {', '.join(sorted(known))})"


def _dataclass(
    name: str,
    cls: type[Any],
    values: Mapping[str, Any],
    elsewhere: frozenset[str] = frozenset(),
    errors: tuple[type[Exception], ...] = (),
) -> Any:
    """A table (or what the environment gave for it) -> an instance of ``cls``."""
    if isinstance(values, EnvText) or not isinstance(values, Mapping):
        raise ConfigError(f"{name} must be a table of settings, got {_shown(values)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    tables = {n for n in fields if dataclasses.is_dataclass(hints[n]) and n not in elsewhere}
    grouped: dict[str, Any] = {}
    for key, value in values.items():
        prefix = next((t for t in tables if key.startswith(t + "_") and key not in fields), None)
        if prefix is not None:  # vad_hangover_s -> vad.hangover_s
            nested = grouped.setdefault(prefix, {})
            if not isinstance(nested, dict):
                raise ConfigError(f"{name}.{prefix} is given twice: as a table and as {name}.{key}")
            nested[key[len(prefix) + 1 :]] = value
        elif key in grouped and isinstance(grouped[key], dict) and isinstance(value, Mapping):
            grouped[key] = {**value, **grouped[key]}  # [captions.vad] plus vad_<key> variables
        else:
            grouped[key] = value
    kwargs: dict[str, Any] = {}
    for key, value in grouped.items():
        if key not in fields:
            raise _Unknown(f"{name}.{key}", set(fields) - elsewhere)
        if key in elsewhere:
            raise ConfigError(f"{name}.{key} is a section of its own: set it in [{key}]")
        kwargs[key] = _value(f"{name}.{key}", hints[key], value, errors)
    missing = [n for n, f in fields.items() if n not in kwargs and _required(f)]
    if missing:
        raise ConfigError(f"{name}.{missing[0]} is required")
    caught: tuple[type[Exception], ...] = (ValueError, *errors)
    try:
        return cls(**kwargs)
    except caught as exc:
        raise ConfigError(_named(name, str(exc))) from None


def _required(field: dataclasses.Field[Any]) -> bool:
    return field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING


def _named(section: str, message: str) -> str:
    """A dataclass's own message, prefixed with the section unless it already names it."""
    message = " ".join(message.split())
    root = section.split(".", 1)[0]
    return message if message.startswith(root + ".") else f"{section}.{message}"


def _value(name: str, tp: Any, value: Any, errors: tuple[type[Exception], ...] = ()) -> Any:
    """One value, by the field's type; a bad one raises ConfigError naming ``name``."""
    try:
        return _convert(name, tp, value, errors)
    except _Bad as bad:
        where = f" (from {value.variable})" if isinstance(value, EnvText) else ""
        raise ConfigError(f"{name} must be {bad.rule}, got {_shown(value)}{where}") from None


class _Bad(Exception):
    def __init__(self, rule: str) -> None:
        self.rule = rule


def _shown(value: Any) -> str:
    shown = repr(value.text if isinstance(value, EnvText) else value)
    return shown if len(shown) <= 80 else shown[:77] + "..."


def _convert(name: str, tp: Any, value: Any, errors: tuple[type[Exception], ...]) -> Any:
    text = value.text if isinstance(value, EnvText) else value if isinstance(value, str) else None
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        if len(inner) != 1:
            raise TypeError(f"{name}: unsupported setting type {tp!r}")
        if value is None or (text is not None and not text.strip()):
            return None
        return _convert(name, inner[0], value, errors)
    if origin is Literal:
        if text is None or text.strip() not in args:
            raise _Bad(f"one of {', '.join(map(str, args))}")
        return text.strip()
    if tp is bool:
        if isinstance(value, bool):
            return value
        word = text.strip().lower() if text is not None else None
        if word in TRUE_WORDS or word in FALSE_WORDS:
            return word in TRUE_WORDS
        raise _Bad("true or false (or yes/no, on/off, 1/0)")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        try:
            return int(text.strip()) if text is not None else _fail()
        except ValueError:
            raise _Bad("an integer") from None
    if tp is float:
        number: float
        if isinstance(value, int | float) and not isinstance(value, bool):
            number = float(value)
        else:
            try:
                number = float(text.strip()) if text is not None else _fail()
            except ValueError:
                raise _Bad("a number") from None
        if not math.isfinite(number):
            raise _Bad("a finite number")
        return number
    if tp is str:
        if text is None:
            raise _Bad("text")
        return text
    if tp is Path:
        if isinstance(value, Path):
            return value
        if text is None or not text.strip():
            raise _Bad("a path")
        return Path(text.strip())
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return _list(name, args[0], value, errors)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if isinstance(value, tp):  # built already (a flattened section's inner part)
            return value
        return _dataclass(name, tp, value, errors=errors)
    raise TypeError(f"{name}: unsupported setting type {tp!r}")


def _fail() -> Any:
    raise ValueError


def _list(name: str, item: Any, value: Any, errors: tuple[type[Exception], ...]) -> tuple[Any, ...]:
    if isinstance(item, type) and dataclasses.is_dataclass(item):  # a list of tables: TOML inline tables, or JSON text
        rule = "a list of tables (JSON in the environment)"
        if isinstance(value, EnvText):
            try:
                value = json.loads(value.text)
            except ValueError:
                raise _Bad(rule) from None
        if not isinstance(value, list | tuple):
            raise _Bad(rule)
        return tuple(_dataclass(f"{name}[{i}]", item, entry, errors=errors) for i, entry in enumerate(value))
    if isinstance(value, EnvText) or isinstance(value, str):
        text = value.text if isinstance(value, EnvText) else value
        items: list[Any] = [part.strip() for part in text.split(",") if part.strip()]
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        raise _Bad("a list (comma-separated in the environment)")
    out = []
    for i, entry in enumerate(items):
        try:
            out.append(_convert(name, item, entry, errors))
        except _Bad as bad:
            raise _Bad(f"a list whose items are {bad.rule} (item {i + 1} is not)") from None
    return tuple(out)
